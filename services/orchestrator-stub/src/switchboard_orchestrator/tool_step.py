"""One tool call of a run, whatever backend asked for it: `tool_call`, the human decision when
the call needs one (approval.py), the tool worker's answer, `tool_result`."""

from typing import Any

from switchboard_protocol import new_id

from .approval import approval_data, decide, timeout_for
from .run_context import RunContext


async def run_tool_call(
    ctx: RunContext,
    name: str,
    parameters: dict[str, Any],
    *,
    approval: bool = False,
    call_id: str | None = None,
) -> dict[str, Any]:
    """Emit the call, wait for approval when `approval`, APPROVAL_REQUIRED_TOOLS or the tool's
    MCP server (`requires_approval`) asks, run it, emit its result; returns the `tool_result`
    data (what a model is told)."""
    call_id = call_id or new_id()
    base = {"call_id": call_id, "tool_name": name}
    call = {**base, "parameters": parameters}
    if not (approval or ctx.approvals.required(name) or await _marked(ctx, name)):
        await ctx.emit("tool_call", call)
        return await _execute(ctx, base, parameters)
    pending = ctx.approvals.open(call_id, ctx.request.run_id, timeout_for(ctx))
    try:
        await ctx.emit("tool_call", {**call, **approval_data(pending)})
        decision = await decide(ctx, pending)
    finally:
        ctx.approvals.close(call_id)
    if not decision.approved:
        refused = {**base, "error": decision.error, "reason": decision.reason}
        await ctx.emit("tool_result", refused)
        return refused
    return await _execute(ctx, base, parameters)


async def _marked(ctx: RunContext, name: str) -> bool:
    """Whether the tool workers mark the tool as needing approval (its MCP server is)."""
    return ctx.catalog is not None and await ctx.control.guard(ctx.catalog.requires_approval(name))


async def _execute(
    ctx: RunContext, base: dict[str, Any], parameters: dict[str, Any]
) -> dict[str, Any]:
    """The tool worker's answer (over RPC) as the `tool_result` it emits."""
    request = ctx.request
    call = ctx.tools.call(
        base["call_id"],
        base["tool_name"],
        parameters,
        request.user_id or "",
        session_id=request.session_id,
        run_id=request.run_id,
    )
    reply = await ctx.control.guard(call)
    if "error" in reply:
        data = {**base, "error": str(reply["error"])}
    else:
        data = {**base, "result": reply.get("result")}
    await ctx.emit("tool_result", data)
    return data
