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
    """The concatenated `token` events 1..seq."""
    tool_calls: list[dict[str, Any]]
    """`{"call_id", "tool_name", "parameters"}`, with `result` or `error` once it came."""
