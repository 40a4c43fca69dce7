"""Event positions on the streams, and the opaque cursor a device resumes from.

A session lives in one stream shard; an event's position there is (offset of its batch
message, index of its line in the batch). Within a shard positions are totally ordered. A cursor
is that position plus the shard and a tag (the last characters of the event's id), so a reader
can check that the event at that position is still the one the client saw: a stream recreated
since holds another event there, and the cursor is then not recovered.

Clients treat the encoded cursor (`"<shard>.<offset>.<index>.<tag>"`) as opaque.
"""

import re
from typing import NamedTuple

CURSOR_PATTERN = r"^\d{1,4}\.\d{1,19}\.\d{1,6}\.[0-9A-Za-z]{1,16}$"
CURSOR_RE = re.compile(CURSOR_PATTERN)
TAG_LENGTH = 8
"""Characters of the event id kept in a cursor's tag."""


class Cursor(NamedTuple):
    """The position of one event: shard, batch offset, line index, and the event's tag."""

    shard: int
    offset: int
    index: int  # type: ignore[assignment]  # shadows tuple.index: the spec's name
    tag: str

    def encode(self) -> str:
        """The wire form, `"<shard>.<offset>.<index>.<tag>"`."""
        return f"{self.shard}.{self.offset}.{self.index}.{self.tag}"

    def after(self, offset: int, index: int) -> bool:
        """Whether position (offset, index) of the same shard comes after this cursor."""
        return offset > self.offset or (offset == self.offset and index > self.index)


def parse_cursor(text: str) -> Cursor:
    """The cursor `text` encodes; ValueError on anything malformed (the gateway answers with an
    `invalid_cursor` error frame and a hello with `recovered: false`)."""
    if not isinstance(text, str) or CURSOR_RE.fullmatch(text) is None:
        raise ValueError(f"not a cursor: {text!r}")
    shard, offset, index, tag = text.split(".")
    return Cursor(int(shard), int(offset), int(index), tag)


def cursor_tag(event_id: str) -> str:
    """The tag of the event with id `event_id`: its last TAG_LENGTH characters (ids are
    alphanumeric; other characters are dropped so that the tag always parses)."""
    kept = "".join(ch for ch in event_id if ch.isascii() and ch.isalnum())
    return kept[-TAG_LENGTH:] or "0"
