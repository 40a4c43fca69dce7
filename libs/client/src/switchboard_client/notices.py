"""Synthetic items the SDK yields besides events: a run's state so far, or events it lost."""

from dataclasses import dataclass, field
from typing import Any, Literal

ReloadReason = Literal["seq_gap", "buffer_expired", "joined_mid_run"]


@dataclass(frozen=True)
class ReloadNotice:
    """Events of this session were lost or never reached this device; `session` is its state as
    stored now (GET, with its `active_run` if one is in progress).

    `seq_gap`: a jump in a run's `seq` (events of it were lost); `response` is that run's
    stored reply when it has one. `buffer_expired`: a connect could not resume (the hello said
    `recovered: false` after a cursor was sent, or a reconnect had no cursor yet), so anything
    published while away is only in the history. `joined_mid_run`: the first event of `run_id`
    this device saw is not its first, and the gateway sent no catch-up for it (the run started
    before the device connected).
    """

    session_id: str
    reason: ReloadReason
    session: dict[str, Any] = field(repr=False)
    run_id: str | None = None
    response: str | None = None
    type: Literal["reload"] = "reload"


@dataclass(frozen=True)
class RunCatchUp:
    """The run that was in progress when this device connected, up to and including `seq`
    (the hello's `active_run`): `text` is its tokens so far, `tool_calls` its tool calls (with
    `result` or `error` once they came). Show it as the answer so far, replacing what you show
    for that run; the stream then yields only that run's events after `seq`."""

    session_id: str
    run_id: str
    seq: int
    agent_type: str
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    type: Literal["catch_up"] = "catch_up"
    text_offset: int = 0
    """Characters of the run's text before `text`: 0 unless the stream was told not to read
    a long run's head (`StreamOptions.whole_catch_up=False`), or could not."""


def catch_up_from(session_id: str, active_run: object) -> RunCatchUp | None:
    """The hello's `active_run` as a RunCatchUp (None when absent or malformed)."""
    if not isinstance(active_run, dict):
        return None
    run_id, seq = active_run.get("run_id"), active_run.get("seq")
    if not isinstance(run_id, str) or not isinstance(seq, int) or isinstance(seq, bool):
        return None
    calls = active_run.get("tool_calls")
    offset = active_run.get("text_offset")
    return RunCatchUp(
        session_id=session_id,
        run_id=run_id,
        seq=seq,
        agent_type=str(active_run.get("agent_type") or ""),
        text=str(active_run.get("text") or ""),
        tool_calls=[c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else [],
        text_offset=offset if isinstance(offset, int) and offset > 0 else 0,
    )


def stored_response(session: dict[str, Any], run_id: str) -> str | None:
    """The assistant message of `run_id` in the session's history, if it is there."""
    for message in reversed(session.get("messages") or []):
        if not isinstance(message, dict):
            continue
        if message.get("run_id") == run_id and message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None
