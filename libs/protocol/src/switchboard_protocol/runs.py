"""A run's state as others see it: the REST `Run`, and `ActiveRun`, the catch-up state a device
joining mid-run gets in its hello (and in `GET /ai/sessions/{id}`)."""

from datetime import datetime
from typing import Any, Literal

from .base import WireModel


class Run(WireModel):
    id: str
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    message_id: str
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class ActiveRun(Run):
    """The run in progress and its state so far (catch-up for devices that join mid-run)."""

    run_id: str
    """Same as `id`."""
    seq: int
    """The state covers the run's events 1..seq; later ones arrive live."""
    agent_type: str
    text: str
    """The concatenated `token` events 1..seq, from character `text_offset` on: the tail of at
    most CATCHUP_TEXT_CHARS characters (16 000); the head is `GET
    /ai/sessions/{id}/runs/{run_id}/text?offset=0&limit=...` (a `TextPiece`)."""
    text_offset: int = 0
    """Characters of the run's text before `text` (0: `text` is all of it)."""
    tool_calls: list[dict[str, Any]]
    """`{"call_id", "tool_name", "parameters"}`, with `result` or `error` once it came."""


class TextPiece(WireModel):
    """A piece of a long text (a message's `content`, a run's `text`): characters `offset`
    up to `next_offset` of `total_chars`."""

    offset: int
    text: str
    total_chars: int
    """The whole text's length in characters (Unicode code points)."""
    next_offset: int | None
    """Where the next piece starts; null when this piece ends the text."""
