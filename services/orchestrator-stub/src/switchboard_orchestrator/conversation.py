"""The run request's history as OpenAI chat messages, and the messages a tool step adds.

Stored history holds tool calls and results as separate rows (`role: "tool"`, `tool.kind`).
Consecutive calls become one assistant message with `tool_calls`, each result a `tool`
message after it. A call without its result, or a result without its call (the budget cut
one of them, or the run was cancelled in between), is left out: the chat format refuses both.
"""

import json
from collections.abc import Sequence
from typing import Any

from switchboard_protocol import HistoryItem

from .backend import Message


def chat_messages(history: Sequence[HistoryItem], message: str) -> list[Message]:
    """The conversation to send: the history, then the user's new message."""
    calls = {_call_id(item) for item in history if _kind(item) == "call"}
    results = {_call_id(item) for item in history if _kind(item) == "result"}
    paired = calls & results
    messages: list[Message] = []
    for item in history:
        kind = _kind(item)
        if kind is None:
            messages.append({"role": item.role, "content": item.content})
        elif _call_id(item) not in paired:
            continue
        elif kind == "call":
            _append_call(messages, item.tool or {})
        else:
            tool = item.tool or {}
            messages.append(tool_message(tool["call_id"], result_text(tool)))
    messages.append({"role": "user", "content": message})
    return messages


def _kind(item: HistoryItem) -> str | None:
    return str(item.tool.get("kind")) if item.role == "tool" and item.tool else None


def _call_id(item: HistoryItem) -> str:
    return str((item.tool or {}).get("call_id", ""))


def _append_call(messages: list[Message], tool: dict[str, Any]) -> None:
    """Add the call to the assistant message just before, or start one."""
    call = function_call(tool["call_id"], str(tool.get("tool_name", "")), tool.get("parameters"))
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
        last["tool_calls"].append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def function_call(call_id: str, name: str, parameters: Any) -> dict[str, Any]:
    arguments = json.dumps(parameters if parameters is not None else {})
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_calls(text: str, calls: Sequence[dict[str, Any]]) -> Message:
    """The assistant turn that asked for `calls` (each from `function_call`)."""
    return {"role": "assistant", "content": text or None, "tool_calls": list(calls)}


def tool_message(call_id: str, content: str) -> Message:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def result_text(reply: dict[str, Any]) -> str:
    """What the model reads of a tool's reply: `{"error": ...}` or the result as JSON."""
    if reply.get("error") is not None:
        return json.dumps({"error": reply["error"]})
    return json.dumps(reply.get("result"), default=str)
