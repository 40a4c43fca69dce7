"""An AG-UI agent that paused for a human answer (a `RUN_FINISHED` interrupt outcome): each
interrupt is asked as a `tool_call` that requires approval (approval.py: any device decides,
or the approval timeout does), and the decisions go back to the agent as the next turn's
`resume` entries (`{"approved", "reason"}`, the payload Pydantic AI's and AG-UI's tool
approvals read). The agent then runs the tool or not, and reports it."""

from dataclasses import dataclass, field
from typing import Any

from .approval import Decision, approval_data, decide, timeout_for
from .backend import Interrupt, Message
from .conversation import assistant_calls, function_call
from .run_context import RunContext


@dataclass
class Answers:
    resume: list[dict[str, Any]] = field(default_factory=list)
    """The next turn's `resume` entries."""
    refused: dict[str, dict[str, str]] = field(default_factory=dict)
    """The calls not approved: call id → `{"error", "reason"}`."""


async def answer_interrupts(
    ctx: RunContext, messages: list[Message], interrupts: list[Interrupt]
) -> Answers:
    """Ask each interrupt in turn. The paused calls join `messages` (the agent resumes the
    conversation that holds them)."""
    calls = [function_call(i.call_id, i.tool_name, i.parameters) for i in interrupts]
    messages.append(assistant_calls("", calls))
    answers = Answers()
    for interrupt in interrupts:
        decision = await _ask(ctx, interrupt)
        payload: dict[str, Any] = {"approved": decision.approved}
        if not decision.approved:
            payload["reason"] = decision.reason
            refusal = {"error": str(decision.error), "reason": decision.reason}
            answers.refused[interrupt.call_id] = refusal
        entry = {"interruptId": interrupt.interrupt_id, "status": "resolved", "payload": payload}
        answers.resume.append(entry)
    return answers


async def _ask(ctx: RunContext, interrupt: Interrupt) -> Decision:
    call = {
        "call_id": interrupt.call_id,
        "tool_name": interrupt.tool_name,
        "parameters": interrupt.parameters,
    }
    pending = ctx.approvals.open(interrupt.call_id, ctx.request.run_id, timeout_for(ctx))
    try:
        await ctx.emit("tool_call", {**call, **approval_data(pending)})
        decision = await decide(ctx, pending)
    finally:
        ctx.approvals.close(interrupt.call_id)
    return decision
