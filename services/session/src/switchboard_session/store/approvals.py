"""Tool calls that wait for a human decision: one row each, decided at most once.

The row is created when the `tool_call` with `requires_approval` is persisted. A decision is a
conditional UPDATE (still `pending`, not past `expires_at`): of concurrent decisions on any
replica exactly one changes the row, the others find it decided.
"""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..tables import ToolApprovalRow

PENDING = "pending"
RUN_ENDED = "run_ended"
TIMED_OUT = "timed_out"


async def open_approval(
    db: AsyncSession,
    *,
    call_id: str,
    session_id: str,
    run_id: str,
    tool_name: str,
    expires_at: datetime,
) -> None:
    """The pending row of a call (a redelivered `tool_call` changes nothing)."""
    row = {
        "call_id": call_id,
        "session_id": session_id,
        "run_id": run_id,
        "tool_name": tool_name,
        "status": PENDING,
        "expires_at": expires_at,
    }
    await db.execute(insert(ToolApprovalRow).values(row).on_conflict_do_nothing())


async def decide(
    db: AsyncSession,
    *,
    session_id: str,
    call_id: str,
    approve: bool,
    reason: str | None,
    user_id: str,
    client_id: str | None,
) -> ToolApprovalRow | None:
    """Record the decision if the call is still undecided and not expired; None otherwise."""
    query = (
        update(ToolApprovalRow)
        .where(
            ToolApprovalRow.call_id == call_id,
            ToolApprovalRow.session_id == session_id,
            ToolApprovalRow.status == PENDING,
            ToolApprovalRow.expires_at > func.now(),
        )
        .values(
            status="approved" if approve else "denied",
            reason=reason,
            decided_by=user_id,
            client_id=client_id,
            decided_at=func.now(),
        )
        .returning(ToolApprovalRow)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def still_open(db: AsyncSession, session_id: str, call_id: str) -> bool:
    """Whether the call's row is `pending` and not past `expires_at` (the database's clock).

    A conditional UPDATE that found no such row may still be followed by a look that does: the
    row was committed in between (the device saw its `tool_call` before the transaction storing
    it ended; READ COMMITTED shows each statement what was committed when it began)."""
    query = select(ToolApprovalRow.call_id).where(
        ToolApprovalRow.call_id == call_id,
        ToolApprovalRow.session_id == session_id,
        ToolApprovalRow.status == PENDING,
        ToolApprovalRow.expires_at > func.now(),
    )
    return (await db.execute(query)).first() is not None


async def get_approval(db: AsyncSession, session_id: str, call_id: str) -> ToolApprovalRow | None:
    query = select(ToolApprovalRow).where(
        ToolApprovalRow.call_id == call_id, ToolApprovalRow.session_id == session_id
    )
    return (await db.execute(query)).scalar_one_or_none()


async def close_pending(
    db: AsyncSession, status: str, *, call_id: str | None = None, run_id: str | None = None
) -> None:
    """Pending rows of one call (its result came: `timed_out`) or of one run (it ended without
    a decision: `run_ended`) are closed; a decision after that is refused."""
    where = [ToolApprovalRow.status == PENDING]
    where.append(
        ToolApprovalRow.call_id == call_id if call_id else ToolApprovalRow.run_id == run_id
    )
    await db.execute(update(ToolApprovalRow).where(*where).values(status=status))
