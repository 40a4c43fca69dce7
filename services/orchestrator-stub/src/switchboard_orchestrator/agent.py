"""A plain message: the agent loop. The model streams its answer as `token` events; when it
asks for tools, each call is a `tool_call`, runs on a tool worker, its `tool_result` is
published and fed back, and the model is asked again, until it answers without tools or
MAX_TOOL_STEPS turns called tools (then it must answer without them). Every backend goes
through this loop: an AG-UI agent's own events come as `Emit`, and when it pauses for a human
answer (`TurnEnd.interrupts`) the decisions resume it in the next turn (interrupts.py).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from switchboard_protocol import new_id

from .backend import Chunk, Emit, Message, ModelToolCall, Retrying, TurnEnd, TurnInput
from .conversation import assistant_calls, chat_messages, function_call, result_text, tool_message
from .interrupts import Answers, answer_interrupts
from .run_context import RunContext
from .tool_client import ToolsUnavailable
from .tool_step import run_tool_call


@dataclass
class _Turn:
    text: list[str] = field(default_factory=list)
    end: TurnEnd = field(default_factory=TurnEnd)


async def chat(ctx: RunContext, text: str) -> None:
    await ctx.status("thinking", "thinking", "")
    await _warn_dropped_history(ctx)
    messages = chat_messages(ctx.request.history, text)
    tools = await _offered_tools(ctx)
    answer: list[str] = []
    steps = ctx.limits.max_tool_steps
    answers = Answers()
    for step in range(steps + 1):
        final = step == steps and bool(tools)
        if final:
            message = f"the model called tools {steps} times; it must answer now (MAX_TOOL_STEPS)"
            await ctx.emit("warning", {"code": "tool_steps_exhausted", "message": message})
        turn = await _stream_turn(ctx, messages, tools, final, answers)
        answer.extend(turn.text)
        messages.extend(turn.end.transcript)
        if turn.end.interrupts:
            answers = await answer_interrupts(ctx, messages, turn.end.interrupts)
            continue
        answers = Answers()
        if not turn.end.tool_calls or step == steps:
            break
        await _tool_step(ctx, messages, "".join(turn.text), turn.end.tool_calls)
    await ctx.respond("".join(answer))


async def _warn_dropped_history(ctx: RunContext) -> None:
    dropped = ctx.request.history_dropped
    if dropped:
        message = (
            f"the {dropped} oldest messages of this conversation were left out of the model's "
            "context (HISTORY_MAX_MESSAGES / HISTORY_MAX_CHARS)"
        )
        await ctx.emit("warning", {"code": "history_truncated", "message": message})


async def _offered_tools(ctx: RunContext) -> list[dict[str, Any]]:
    if ctx.catalog is None or not ctx.backend.offers_tools or ctx.limits.max_tool_steps == 0:
        return []
    try:
        return await ctx.control.guard(ctx.catalog.functions())
    except ToolsUnavailable as exc:
        message = f"no tool worker answered ({exc}); the model answers without tools"
        await ctx.emit("warning", {"code": "tools_unavailable", "message": message})
        return []


async def _stream_turn(
    ctx: RunContext,
    messages: list[Message],
    tools: list[dict[str, Any]],
    final: bool,
    answers: Answers,
) -> _Turn:
    """One model turn: tokens published as they come, retries announced, the agent's own
    events published; its text and end."""
    request = ctx.request
    about = TurnInput(request.session_id, request.run_id, answers.resume, answers.refused)
    chunks = ctx.backend.turn(messages, tools, ctx.stream.agent_type, final=final, about=about)
    turn = _Turn()
    try:
        while (chunk := await ctx.control.guard(_next(chunks))) is not None:
            if isinstance(chunk, str):
                turn.text.append(chunk)
                await ctx.token(chunk)
            elif isinstance(chunk, Retrying):
                await ctx.emit("warning", _retry_warning(chunk))
            elif isinstance(chunk, Emit):
                await ctx.emit(chunk.event_type, chunk.data)
            else:
                turn.end = chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()  # a cancel closes the model's stream here, at once
    if turn.end.usage is not None:
        ctx.usage = turn.end.usage if ctx.usage is None else ctx.usage + turn.end.usage
    return turn


def _retry_warning(chunk: Retrying) -> dict[str, Any]:
    message = f"{chunk.reason}; retry {chunk.attempt} in {chunk.delay_s:g} s"
    return {"code": "model_retry", "message": message}


async def _next(chunks: AsyncIterator[Chunk]) -> Chunk | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


async def _tool_step(
    ctx: RunContext, messages: list[Message], text: str, calls: list[ModelToolCall]
) -> None:
    """Run the turn's calls side by side; add the call turn and each result to `messages`."""
    planned = [
        (call.call_id or new_id(), call.name, parse_arguments(call.arguments)) for call in calls
    ]
    messages.append(
        assistant_calls(text, [function_call(cid, name, params) for cid, name, params in planned])
    )
    replies = await asyncio.gather(
        *(run_tool(ctx, cid, name, params) for cid, name, params in planned)
    )
    for (call_id, _, _), reply in zip(planned, replies, strict=True):
        messages.append(tool_message(call_id, result_text(reply)))


class BadArguments(dict[str, Any]):
    """Arguments the model sent that are not a JSON object (the call answers an error)."""

    def __init__(self, raw: str, problem: str) -> None:
        super().__init__()
        self.raw = raw
        self.problem = problem


def parse_arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError as exc:
        return BadArguments(raw, f"arguments are not JSON: {exc}")
    if not isinstance(value, dict):
        return BadArguments(raw, "arguments are not a JSON object")
    return value


async def run_tool(
    ctx: RunContext, call_id: str, name: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    """One tool call of the model: the single path every call takes (tool_step.py: `tool_call`,
    the human decision when the tool needs one, the call on a tool worker, `tool_result`);
    returns what the model is told (`{"result"}` or `{"error"}`)."""
    if isinstance(parameters, BadArguments):
        await ctx.emit(
            "tool_call", {"call_id": call_id, "tool_name": name, "parameters": parameters}
        )
        error = f"bad parameters for {name}: {parameters.problem}"
        await ctx.emit("tool_result", {"call_id": call_id, "tool_name": name, "error": error})
        return {"error": error}
    data = await run_tool_call(ctx, name, parameters, call_id=call_id)
    if "error" in data:
        reason = data.get("reason")
        return {"error": f"{data['error']}: {reason}" if reason else str(data["error"])}
    return {"result": data.get("result")}
