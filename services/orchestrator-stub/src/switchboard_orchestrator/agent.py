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
        if await _tool_step(ctx, messages, "".join(turn.text), turn.end.tool_calls):
            tools = await _offered_tools(ctx)  # another agent answers: its tools
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
    """The agent's tools (AGENTS `tools`; all by default) and its transfers to other agents."""
    if not ctx.backend.offers_tools or ctx.limits.max_tool_steps == 0:
        return []
    return [*await _catalog_tools(ctx), *ctx.agents.transfers(ctx.stream.agent_type)]


async def _catalog_tools(ctx: RunContext) -> list[dict[str, Any]]:
    if ctx.catalog is None:
        return []
    try:
        listed = await ctx.control.guard(ctx.catalog.functions())
    except ToolsUnavailable as exc:
        message = f"no tool worker answered ({exc}); the model answers without tools"
        await ctx.emit("warning", {"code": "tools_unavailable", "message": message})
        return []
    agent = ctx.agent
    return [tool for tool in listed if agent.allows(tool["function"]["name"])]


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
    instructions = ctx.agent.instructions
    about = TurnInput(
        request.session_id, request.run_id, answers.resume, answers.refused, instructions
    )
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
) -> bool:
    """Run the turn's calls side by side; add the call turn and each result to `messages`.
    A transfer to another agent (`transfer_to_<name>`) switches after the other calls ran;
    returns whether it did."""
    planned = [
        (call.call_id or new_id(), call.name, parse_arguments(call.arguments)) for call in calls
    ]
    messages.append(
        assistant_calls(text, [function_call(cid, name, params) for cid, name, params in planned])
    )
    current = ctx.stream.agent_type
    targets = [ctx.agents.transfer_target(name, current) for _, name, _ in planned]
    tools = [p for p, target in zip(planned, targets, strict=True) if target is None]
    replies = await _run_calls(ctx, tools)
    switch = next(((p, t) for p, t in zip(planned, targets, strict=True) if t is not None), None)
    if switch is not None:
        (call_id, _, params), target = switch
        replies |= _transfers(planned, targets, call_id, target)
        await _switch(ctx, current, target, params)
    for call_id, _, _ in planned:
        messages.append(tool_message(call_id, result_text(replies[call_id])))
    return switch is not None


async def _run_calls(
    ctx: RunContext, calls: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Each call's reply (what the model is told), by call id; the calls run side by side."""
    replies = await asyncio.gather(*(run_tool(ctx, cid, name, args) for cid, name, args in calls))
    return {cid: reply for (cid, _, _), reply in zip(calls, replies, strict=True)}


def _transfers(
    planned: list[tuple[str, str, dict[str, Any]]],
    targets: list[str | None],
    chosen: str,
    target: str,
) -> dict[str, dict[str, Any]]:
    """What the model is told of each transfer call (one transfer a turn counts)."""
    told: dict[str, dict[str, Any]] = {}
    for (call_id, _, _), name in zip(planned, targets, strict=True):
        if name is None:
            continue
        if call_id == chosen:
            told[call_id] = {"result": f"transferred to the {target} agent"}
        else:
            told[call_id] = {"error": f"not transferred: the {target} agent takes over"}
    return told


async def _switch(ctx: RunContext, old: str, new: str, params: dict[str, Any]) -> None:
    """`agent_switch`; the run goes on as `new` (its instructions, its tools)."""
    reason = params.get("reason") if isinstance(params.get("reason"), str) else None
    why = (reason or f"the {old} agent handed over")[:500]
    await ctx.emit("agent_switch", {"from": old, "to": new, "reason": why})
    ctx.stream.agent_type = new


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


def _refusal(ctx: RunContext, name: str, parameters: dict[str, Any]) -> str | None:
    """Why the call is not run: parameters that are not an object, or a tool the agent
    answering may not use (AGENTS `tools`)."""
    if isinstance(parameters, BadArguments):
        return f"bad parameters for {name}: {parameters.problem}"
    if not ctx.agent.allows(name):
        return f"{name} is not one of the {ctx.stream.agent_type} agent's tools"
    return None


async def run_tool(
    ctx: RunContext, call_id: str, name: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    """One tool call of the model: the single path every call takes (tool_step.py: `tool_call`,
    the human decision when the tool needs one, the call on a tool worker, `tool_result`);
    returns what the model is told (`{"result"}` or `{"error"}`)."""
    refusal = _refusal(ctx, name, parameters)
    if refusal is not None:
        await ctx.emit(
            "tool_call", {"call_id": call_id, "tool_name": name, "parameters": parameters}
        )
        await ctx.emit("tool_result", {"call_id": call_id, "tool_name": name, "error": refusal})
        return {"error": refusal}
    data = await run_tool_call(ctx, name, parameters, call_id=call_id)
    if "error" in data:
        reason = data.get("reason")
        return {"error": f"{data['error']}: {reason}" if reason else str(data["error"])}
    return {"result": data.get("result")}
