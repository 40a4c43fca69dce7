"""One coroutine per directive: the events it emits, in order (see docs/protocol.md)."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from .agent import chat as agent_chat
from .approval import DENIED, TIMED_OUT
from .directives import Chat, Fail, Sleep, Speak, SwitchAgent, Tokens, ToolCall
from .run_context import RunContext, RunFailed
from .tool_step import run_tool_call

YIELD_EVERY = 64


async def tokens(ctx: RunContext, directive: Tokens) -> None:
    await ctx.status("thinking", "thinking", f"generating {directive.count} tokens")
    interval = 1.0 / directive.rate if directive.rate else 0.0
    loop = asyncio.get_running_loop()
    start = loop.time()
    parts: list[str] = []
    for i in range(1, directive.count + 1):
        # token i is due at start + (i - 1) * interval: a fixed schedule, so the time each
        # emit takes does not slow the stream below its rate
        delay = start + (i - 1) * interval - loop.time() if interval else 0.0
        if delay > 0:
            await ctx.control.pause(delay)
        elif i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        parts.append(f"t{i} ")
        await ctx.token(parts[-1])
    await ctx.respond("".join(parts))


async def tool(ctx: RunContext, directive: ToolCall) -> None:
    name = directive.name
    data = await run_tool_call(ctx, name, directive.parameters, approval=directive.approval)
    error = data.get("error")
    if error in (DENIED, TIMED_OUT):
        await ctx.respond(f"The {name} tool was not run: {data.get('reason')}.")
    elif error is not None:
        await ctx.respond(f"The {name} tool failed: {error}.")
    else:
        result = json.dumps(data.get("result"), sort_keys=True)
        await ctx.respond(f"The {name} tool returned {result}.")


async def switch_agent(ctx: RunContext, directive: SwitchAgent) -> None:
    old, new = ctx.stream.agent_type, directive.name
    await ctx.emit("agent_switch", {"from": old, "to": new, "reason": "requested by the user"})
    ctx.stream.agent_type = new
    await ctx.respond(f"Hi, this is the {new} agent, taking over from {old}. How can I help?")


async def fail(ctx: RunContext, directive: Fail) -> None:
    raise RunFailed("scripted_error", "the /error directive asked this run to fail")


async def speak(ctx: RunContext, directive: Speak) -> None:
    await ctx.speak(directive.text)
    await ctx.respond(directive.text, spoken=True)


async def sleep(ctx: RunContext, directive: Sleep) -> None:
    await ctx.status("waiting", "waiting", f"sleeping {directive.seconds:g} s")
    await ctx.control.pause(directive.seconds)
    await ctx.respond(f"Done sleeping for {directive.seconds:g} s.")


async def chat(ctx: RunContext, directive: Chat) -> None:
    await agent_chat(ctx, directive.text)


Action = Callable[[RunContext, Any], Awaitable[None]]

ACTIONS: dict[type, Action] = {
    Tokens: tokens,
    ToolCall: tool,
    SwitchAgent: switch_agent,
    Fail: fail,
    Speak: speak,
    Sleep: sleep,
    Chat: chat,
}
