"""Synthetic items the SDK yields besides events: what to do when events were lost."""

from dataclasses import dataclass, field
from typing import Any, Literal

ReloadReason = Literal["seq_gap", "buffer_expired"]


@dataclass(frozen=True)
class ReloadNotice:
    """Events of this session were lost; `session` is its state as stored now (GET).

    `seq_gap`: a jump in a run's `seq` (the device buffer overflowed); `response` is that
    run's stored reply when it has one. `buffer_expired`: a reconnect found no buffer, so
    anything published while away is only in the history.
    """

    session_id: str
    reason: ReloadReason
    session: dict[str, Any] = field(repr=False)
    run_id: str | None = None
    response: str | None = None
    type: Literal["reload"] = "reload"


def stored_response(session: dict[str, Any], run_id: str) -> str | None:
    """The assistant message of `run_id` in the session's history, if it is there."""
    for message in reversed(session.get("messages") or []):
        if not isinstance(message, dict):
            continue
        if message.get("run_id") == run_id and message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None
