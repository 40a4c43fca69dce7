"""Wire encoding: one event is one compact JSON object; a batch is newline-delimited.

JSON never contains a raw newline (it is escaped inside strings), so a consumer splits a
batch on b"\\n" without parsing, and the gateway forwards each line as one frame unchanged.
"""

import json
from typing import NamedTuple

from switchboard_protocol import Event

BATCH_CONTENT_TYPE = "application/x-ndjson"
"""A batch message on a stream: one event per line (index = line number, from 0)."""
SINGLE_CONTENT_TYPE = "application/json"
MARK_CONTENT_TYPE = "application/x-switchboard-mark"
"""A mark on a stream: no event, its body is the mark's id (readers skip it)."""
_ID_PREFIX = '{"id":"'


def encode(event: Event) -> bytes:
    """Compact JSON with `id` first (so `event_id` can read it without parsing)."""
    return event.model_dump_json(by_alias=True).encode()


def encode_batch(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def split_batch(body: bytes) -> list[bytes]:
    """The events of one AMQP message body, single or batched."""
    return [line for line in body.split(b"\n") if line]


def event_id(raw: bytes | str) -> str:
    """The `id` of an encoded event (bytes or text), read from its first characters when it was
    encoded here, parsed otherwise; ValueError when it has none."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text.startswith(_ID_PREFIX):
        end = text.find('"', len(_ID_PREFIX))
        if end > 0:
            return text[len(_ID_PREFIX) : end]
    try:
        value = json.loads(text).get("id")
    except AttributeError as exc:
        raise ValueError("event is not a JSON object") from exc
    if not isinstance(value, str):
        raise ValueError("event has no string id")
    return value


class EventHead(NamedTuple):
    """What routing an encoded event needs, read without decoding it into a model."""

    id: str
    session_id: str
    type: str
    run_id: str | None


def event_head(raw: bytes | str) -> EventHead:
    """The `id`, `session_id`, `type` and `run_id` of an encoded event; the rest (fields this
    version may not know) is left to the bytes. ValueError when one is missing or not text."""
    try:
        fields = json.loads(raw)
        head = EventHead(fields["id"], fields["session_id"], fields["type"], fields.get("run_id"))
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"not an encoded event: {exc!r}") from exc
    if not all(isinstance(value, str) for value in head[:3]) or not isinstance(
        head.run_id, str | None
    ):
        raise ValueError("an encoded event's id, session_id, type and run_id are strings")
    return head
