"""Encoded events as the stream carries them (one compact JSON object per line), read without
parsing: the session an event belongs to, the few types the gateway acts on, and the text a
device receives (the event with its cursor spliced in first)."""

from typing import NamedTuple

from switchboard_events import event_id
from switchboard_events.codec import event_head
from switchboard_protocol.cursor import TAG_LENGTH, Cursor, cursor_tag

_SESSION = b'"session_id":"'
_ID_PREFIX = b'{"id":"'
_SESSION_END = b'"session_end"'
_TYPING = b'"typing"'
"""Only lines holding one of these are parsed, to learn whether they are of that type."""


class Frame(NamedTuple):
    """One event for one session's devices: its cursor, its text with the cursor in, and its
    type when the gateway acts on it (`session_end`, `typing`: else "")."""

    cursor: str
    text: str
    kind: str


def session_of(line: bytes) -> str | None:
    """The event's `session_id`. Events encoded here start with `{"id":"` (no quote inside),
    and `session_id` is the next field, so its first occurrence is the top-level one; anything
    else is parsed. None for a line that is not an event."""
    if line.startswith(_ID_PREFIX):
        start = line.find(_SESSION)
        if start > 0:
            start += len(_SESSION)
            end = line.find(b'"', start)
            if end > start:
                return line[start:end].decode()
    try:
        return event_head(line).session_id
    except ValueError:
        return None


def frame_of(shard: int, offset: int, index: int, line: bytes) -> Frame:
    """The text a device gets for the event at (shard, offset, index): `{"cursor":"..",` then
    the event's own fields."""
    try:
        tag = tag_of(line)
    except ValueError:  # no id: a cursor to it can never be recovered
        tag = "0"
    cursor = Cursor(shard, offset, index, tag).encode()
    text = '{"cursor":"' + cursor + '",' + line[1:].decode(errors="replace")
    return Frame(cursor, text, kind_of(line))


def kind_of(line: bytes) -> str:
    if _TYPING not in line and _SESSION_END not in line:
        return ""
    try:
        kind = event_head(line).type
    except ValueError:
        return ""
    return kind if kind in ("session_end", "typing") else ""


def tag_of(line: bytes) -> str:
    """The cursor tag of an encoded event: the last characters of its id (see Cursor). The id
    is read from the line's first bytes when it was encoded here (no decode of the rest)."""
    if line.startswith(_ID_PREFIX):
        end = line.find(b'"', len(_ID_PREFIX))
        if end > 0:
            return _tag(line[len(_ID_PREFIX) : end].decode())
    return _tag(event_id(line))


def _tag(event_id: str) -> str:
    """`cursor_tag`, without its per-character filter for ids that need none (ULIDs)."""
    if event_id.isascii() and event_id.isalnum():
        return event_id[-TAG_LENGTH:]
    return cursor_tag(event_id)
