"""`MESSAGES_SNAPSHOT` for a device joining mid-run: the conversation's user and assistant
messages (`GET /ai/sessions/{id}`), then the run's answer so far (the catch-up state)."""

import json
from typing import Any

from ag_ui.core import (
    AssistantMessage,
    FunctionCall,
    Message,
    MessagesSnapshotEvent,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from switchboard_protocol import ActiveRun


def snapshot(history: list[dict[str, Any]], run: ActiveRun, text: str) -> MessagesSnapshotEvent:
    """`history` (user and assistant messages) and `run`'s answer so far, `text`."""
    rows = [row for row in history if row.get("run_id") != run.run_id or row.get("role") == "user"]
    messages: list[Message] = [m for m in map(_message, rows) if m is not None]
    calls = [ToolCall(id=str(c.get("call_id")), function=_function(c)) for c in run.tool_calls]
    messages.append(AssistantMessage(id=run.run_id, content=text, tool_calls=calls or None))
    for call in run.tool_calls:
        if "result" in call or call.get("error") is not None:
            messages.append(_result(call))
    return MessagesSnapshotEvent(messages=messages)


def _message(row: dict[str, Any]) -> Message | None:
    role, content, row_id = row.get("role"), str(row.get("content") or ""), str(row.get("id"))
    if role == "user":
        return UserMessage(id=row_id, content=content)
    if role == "assistant" and row.get("run_id"):
        return AssistantMessage(id=str(row["run_id"]), content=content)
    return None


def _function(call: dict[str, Any]) -> FunctionCall:
    arguments = json.dumps(call.get("parameters") or {})
    return FunctionCall(name=str(call.get("tool_name")), arguments=arguments)


def _result(call: dict[str, Any]) -> ToolMessage:
    call_id = str(call.get("call_id"))
    error = call.get("error")
    result = call.get("result")
    content = result if isinstance(result, str) else json.dumps(result)
    if error is not None:
        content = json.dumps({"error": error})
    return ToolMessage(id=f"{call_id}.result", tool_call_id=call_id, content=content, error=error)
