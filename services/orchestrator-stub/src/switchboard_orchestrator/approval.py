"""Human approval of tool calls: a run waits for a device's `tool_decision` before a tool runs.

The run publishes `tool_call` with `"requires_approval": true` and `approval_expires_at`, then
waits. The session service records the first decision in Postgres (it alone says "decided
once") and sends it here on `ai.control` with the key `approval.<call_id>`; every run worker
hears it and the one waiting on that call takes it. No decision by `approval_expires_at` (plus
`DELIVERY_GRACE_S`, so a decision Postgres took just before the deadline still arrives) is
`approval_timeout`; a cancel of the run ends the wait at once (RunCancelled).

Any backend's tool call goes through `decide(ctx, call_id)` when `ctx.approvals.required(...)`
or the caller asks for it (the stub's `/approve`).
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from switchboard_protocol import ToolDecisionCommand, is_name

if TYPE_CHECKING:
    from .run_context import RunContext

log = logging.getLogger(__name__)

DELIVERY_GRACE_S = 1.0
"""How long past the deadline a run still waits for a decision already on its way."""
DENIED = "denied"
TIMED_OUT = "approval_timeout"
APPROVAL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Decision:
    approved: bool
    error: str | None = None
    """`denied` or `approval_timeout` when not approved."""
    reason: str = ""


@dataclass(frozen=True)
class Pending:
    """A call waiting for its decision: its deadline and where the decision lands."""

    call_id: str
    run_id: str
    timeout_s: float
    expires_at: datetime
    future: "asyncio.Future[Decision]"


class Approvals:
    """The calls this worker waits on, the timeout and the tools that always need approval."""

    def __init__(self, timeout_s: float, required_tools: frozenset[str] = frozenset()) -> None:
        self.timeout_s = timeout_s
        self.required_tools = required_tools
        self._pending: dict[str, Pending] = {}

    def required(self, tool_name: str) -> bool:
        return tool_name in self.required_tools

    def open(self, call_id: str, run_id: str, timeout_s: float) -> Pending:
        """Start waiting for `call_id` (before its `tool_call` goes out: no decision is missed)."""
        future = asyncio.get_running_loop().create_future()
        expires = datetime.now(UTC) + timedelta(seconds=timeout_s)
        pending = Pending(call_id, run_id, timeout_s, expires, future)
        self._pending[call_id] = pending
        return pending

    def close(self, call_id: str) -> None:
        self._pending.pop(call_id, None)

    def deliver(self, call_id: str, body: bytes) -> None:
        """A decision from `ai.control` for `call_id` (its routing key's id); ignored unless
        this worker waits on that call."""
        pending = self._pending.get(call_id) if is_name(call_id) else None
        if pending is None or pending.future.done():
            return
        decision = parse_decision(body, pending.run_id)
        if decision is not None:
            pending.future.set_result(decision)


def parse_decision(body: bytes, run_id: str) -> Decision | None:
    """The decision in a control message for a call of `run_id`; None when malformed."""
    try:
        decision = ToolDecisionCommand.read_json(body)
        if decision.run_id != run_id:
            raise ValueError("run_id does not fit")
    except (ValueError, RecursionError) as exc:
        log.warning("ignoring a malformed tool decision: %r", exc)
        return None
    approve, reason = decision.approve, decision.reason or ""
    if approve:
        return Decision(True, reason=str(reason))
    return Decision(False, DENIED, str(reason) or "denied by the user")


def approval_data(pending: Pending) -> dict[str, Any]:
    """What a `tool_call` that waits for approval carries besides its call."""
    return {"requires_approval": True, "approval_expires_at": pending.expires_at.isoformat()}


async def decide(ctx: "RunContext", pending: Pending) -> Decision:
    """Wait for the decision on `pending` (its `tool_call` already emitted); a cancel of the
    run raises RunCancelled at once."""
    left = (pending.expires_at - datetime.now(UTC)).total_seconds() + DELIVERY_GRACE_S
    try:
        return await ctx.control.guard(asyncio.wait_for(asyncio.shield(pending.future), left))
    except TimeoutError:
        reason = f"no decision within {pending.timeout_s:g} s (APPROVAL_TIMEOUT_S)"
        return Decision(False, TIMED_OUT, reason)


def timeout_for(ctx: "RunContext") -> float:
    """The approval timeout of a run: APPROVAL_TIMEOUT_S, capped by MAX_RUN_S."""
    return min(ctx.approvals.timeout_s, ctx.limits.max_run_s)
