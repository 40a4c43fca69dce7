"""What the session service has stored of a run (`GET /ai/sessions/{id}`'s answer): its outcome,
its tool calls, its error, its reply."""

from typing import Any

TERMINAL = ("completed", "failed", "cancelled")


def reply_of(session: dict[str, Any], run_id: str) -> str:
    """The run's stored assistant message (a reply that streamed no token is only there)."""
    for message in session.get("messages") or ():
        if not isinstance(message, dict) or message.get("run_id") != run_id:
            continue
        if message.get("role") == "assistant":
            return str(message.get("content") or "")
    return ""


def run_outcome(session: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    for run in session.get("runs") or ():
        if isinstance(run, dict) and run.get("id") == run_id:
            return run
    return None


def stored_run(session: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The run as stored: the session's `active_run` while it is that run (its notices so far),
    else its outcome (the run ended since); {} when neither."""
    active = session.get("active_run") or {}
    if isinstance(active, dict) and active.get("id") == run_id:
        return active
    return run_outcome(session, run_id) or {}


def stored_calls(session: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The run's tool calls as stored (its `tool` messages), each with its result once stored:
    the shape of a catch-up's `tool_calls`."""
    calls: dict[str, dict[str, Any]] = {}
    for message in session.get("messages") or ():
        tool = message.get("tool") if isinstance(message, dict) else None
        if message.get("run_id") != run_id or not isinstance(tool, dict):
            continue
        call = calls.setdefault(str(tool.get("call_id")), {"call_id": tool.get("call_id")})
        call["tool_name"] = tool.get("tool_name")
        if tool.get("kind") == "call":
            call["parameters"] = tool.get("parameters") or {}
        elif tool.get("error") is not None:
            call["error"] = tool["error"]
        else:
            call["result"] = tool.get("result")
    return list(calls.values())


def error_of(outcome: dict[str, Any]) -> tuple[str, str] | None:
    for notice in reversed(outcome.get("notices") or []):
        if isinstance(notice, dict) and notice.get("type") == "error":
            data = notice.get("data") or {}
            return str(data.get("code") or "error"), str(data.get("message") or "")
    return None
