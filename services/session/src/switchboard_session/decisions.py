"""Human decisions on tool calls (`POST /ai/sessions/{id}/tool_decisions`, the gateway's
`tool_decision` frame): recorded once in Postgres, then sent to the waiting run worker.

The first decision from any device counts (a conditional UPDATE, store/approvals.py); later
ones are 409 `already_decided`. The row is written when the session service persists the
`tool_call`, which a device may see a moment earlier: while the session has an active run, an
unknown call id is looked up again for up to `PERSIST_GRACE_S` before 404 `unknown_call`.
"""

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import ToolDecisionCommand

from .context import Context
from .errors import ApiError
from .schemas import ToolDecision
from .store import approvals, audit
from .store.sessions import get_owned
from .tables import ToolApprovalRow

PERSIST_GRACE_S = 2.0
RETRY_S = 0.05
_ALREADY = {
    "approved": "the call was already approved",
    "denied": "the call was already denied",
    approvals.TIMED_OUT: "the call timed out waiting for a decision (APPROVAL_TIMEOUT_S)",
    approvals.RUN_ENDED: "the run of this call has ended",
    approvals.PENDING: "the call timed out waiting for a decision (APPROVAL_TIMEOUT_S)",
}


async def decide(
    ctx: Context, user_id: str, session_id: str, body: ToolDecision, client_id: str | None
) -> ToolApprovalRow:
    """Record `body` and send it to the worker; 404 (session or call), 409 `already_decided`."""
    ctx.broker.require()
    deadline = time.monotonic() + PERSIST_GRACE_S
    while True:
        async with ctx.sessions.begin() as db:
            session = await get_owned(db, user_id, session_id, lock=True)
            row = await approvals.decide(
                db,
                session_id=session.id,
                call_id=body.call_id,
                approve=body.approve,
                reason=body.reason,
                user_id=user_id,
                client_id=client_id,
            )
            if row is not None:
                await ctx.outbox.decision(db, _message(row, body))
                _audit(db, row, body)
                return row
            known = await approvals.get_approval(db, session.id, body.call_id)
            if known is not None:
                raise ApiError(409, "already_decided", _ALREADY.get(known.status, known.status))
            running = session.active_run_id is not None
        if not running or time.monotonic() >= deadline:
            raise ApiError(
                404,
                "unknown_call",
                "no tool call of this session awaits a decision with this call_id",
            )
        await asyncio.sleep(RETRY_S)


def _message(row: ToolApprovalRow, body: ToolDecision) -> ToolDecisionCommand:
    """The `ai.control` message (docs/internals.md)."""
    return ToolDecisionCommand(
        call_id=row.call_id,
        session_id=row.session_id,
        run_id=row.run_id,
        approve=body.approve,
        reason=body.reason,
        user_id=row.decided_by,
        client_id=row.client_id,
    )


def _audit(db: AsyncSession, row: ToolApprovalRow, body: ToolDecision) -> None:
    audit.record(
        db,
        "tool_decision",
        user_id=row.decided_by,
        session_id=row.session_id,
        call_id=row.call_id,
        tool_name=row.tool_name,
        approve=body.approve,
        client_id=row.client_id,
    )
