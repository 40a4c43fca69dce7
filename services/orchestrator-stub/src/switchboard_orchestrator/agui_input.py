"""The `RunAgentInput` an AG-UI agent is sent: the conversation (OpenAI chat messages, as every
backend gets it) as AG-UI messages with their tool calls and results, and the tool workers'
tools (OpenAI function tools) as AG-UI frontend tools, which Switchboard runs."""

import json
from collections.abc import Sequence
from typing import Any

from ag_ui.core import (
    AssistantMessage,
    FunctionCall,
    Message,
    ResumeEntry,
    RunAgentInput,
    SystemMessage,
    Tool,
    ToolCall,
    ToolMessage,
    UserMessage,
)

from .backend import Message as ChatMessage
from .backend import TurnInput

PROTOCOL_VERSION = "1.0"


def run_input(
    messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], about: TurnInput
) -> dict[str, Any]:
    """The request body (JSON-ready, camelCase as on the wire)."""
    body = RunAgentInput(
        thread_id=about.session_id,
        run_id=about.run_id,
        protocol_version=PROTOCOL_VERSION,
        state={},
        messages=agui_messages(messages, about.instructions),
        tools=[agui_tool(tool) for tool in tools],
        context=[],
        forwarded_props={},
        resume=[ResumeEntry.model_validate(entry) for entry in about.resume] or None,
    )
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)


def agui_messages(messages: Sequence[ChatMessage], instructions: str = "") -> list[Message]:
    """Each chat message as an AG-UI message; ids are the position (stable across the turns of
    a run, so the agent sees the same conversation grow)."""
    out: list[Message] = []
    if instructions:
        out.append(SystemMessage(id="system", content=instructions))
    for index, message in enumerate(messages):
        out.append(_message(f"m{index}", message))
    return out


def _message(id_: str, message: ChatMessage) -> Message:
    role, content = message.get("role"), message.get("content")
    if role == "tool":
        return ToolMessage(id=id_, content=str(content or ""), tool_call_id=message["tool_call_id"])
    if role == "assistant":
        calls = [_call(call) for call in message.get("tool_calls") or []]
        return AssistantMessage(id=id_, content=content or None, tool_calls=calls or None)
    if role == "system":
        return SystemMessage(id=id_, content=str(content or ""))
    return UserMessage(id=id_, content=str(content or ""))


def _call(call: dict[str, Any]) -> ToolCall:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments or {})
    return ToolCall(
        id=str(call["id"]), function=FunctionCall(name=str(function["name"]), arguments=arguments)
    )


def agui_tool(tool: dict[str, Any]) -> Tool:
    """An OpenAI function tool as an AG-UI tool."""
    function = tool.get("function") or {}
    return Tool(
        name=str(function["name"]),
        description=str(function.get("description") or ""),
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
    )
