"""Human decisions on tool calls (`POST /ai/sessions/{id}/tool_decisions`, the gateway's
`tool_decision` frame): recorded once in Postgres, then sent to the waiting run worker.

The first decision from any device counts (a conditional UPDATE, store/approvals.py, which no
other lock guards); later ones are 409 `already_decided`. The row is written when the session
service's ingest stores the `tool_call`, which a device may see a moment earlier: while the
session has an active run, a decision for an unknown call id publishes a mark on the session's
shard and waits until ingest has stored past it (marks.py, at most INGEST_WAIT_S), then looks
once more: the call is stored by then if the device saw it, else 404 `unknown_call` is
genuine. A call whose row the UPDATE missed but the look after it finds still open (committed
in between) is looked at again at once: it was not decided yet, only just stored. Each look is
a short transaction of its own, and no lock on the session row is taken: nothing is held while
waiting. A user has at most MAX_PENDING_DECISIONS_PER_USER waits on ingest at once per replica,
and all users together `MAX_WAITING` (each wait keeps one of the gateway's upstream
connections); one more decision is 429 `too_many_pending_decisions` at once. A decision refused
so is worth sending again: once its call is stored it needs no wait.
"""

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import ToolDecisionCommand

from .app_context import AppContext
from .errors import ApiError
from .schemas import ToolDecision
from .store import approvals, audit
from .store.sessions import get_owned
from .tables import ToolApprovalRow
from .waiting import MAX_WAITING

_UNKNOWN = "no tool call of this session awaits a decision with this call_id"
_ALREADY = {
    "approved": "the call was already approved",
    "denied": "the call was already denied",
    approvals.TIMED_OUT: "the call timed out waiting for a decision (APPROVAL_TIMEOUT_S)",
    approvals.RUN_ENDED: "the run of this call has ended",
    approvals.PENDING: "the call timed out waiting for a decision (APPROVAL_TIMEOUT_S)",
}


async def decide(
    ctx: AppContext, user_id: str, session_id: str, body: ToolDecision, client_id: str | None
) -> ToolApprovalRow:
    """Record `body` and send it to the worker; 404 (session or call), 409 `already_decided`."""
    ctx.broker.require()
    try:
        return await _decide_twice(ctx, user_id, session_id, body, client_id)
    except NotStoredYet:
        pass
    cap = ctx.settings.max_pending_decisions_per_user
    with ctx.waiting.hold(user_id, cap, MAX_WAITING, _too_many(cap)):
        shards = [ctx.broker.shard(session_id)]
        await ctx.ingest_waits.after_ingest(ctx.broker, shards, ctx.settings.ingest_wait_s)
    try:
        return await _decide_twice(ctx, user_id, session_id, body, client_id)
    except NotStoredYet as exc:
        raise ApiError(404, "unknown_call", _UNKNOWN) from exc


async def _decide_twice(
    ctx: AppContext, user_id: str, session_id: str, body: ToolDecision, client_id: str | None
) -> ToolApprovalRow:
    """`_decide_once`, once more at once when its row was committed while it looked."""
    try:
        return await _decide_once(ctx, user_id, session_id, body, client_id)
    except NotStoredYet as exc:
        if not exc.row_seen:
            raise
    return await _decide_once(ctx, user_id, session_id, body, client_id)


def _too_many(cap: int) -> ApiError:
    message = (
        f"at most {cap} decisions for calls not stored yet may wait at once "
        f"(MAX_PENDING_DECISIONS_PER_USER; {MAX_WAITING} of all users); retry in a moment"
    )
    return ApiError(
        429, "too_many_pending_decisions", message, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


RETRY_AFTER_S = 2


class NotStoredYet(ApiError):
    """An unknown call id while the session's run is active: its row may be on the way
    (`row_seen`: it was committed between the UPDATE and the look after it)."""

    def __init__(self, row_seen: bool) -> None:
        super().__init__(404, "unknown_call", _UNKNOWN)
        self.row_seen = row_seen


async def _decide_once(
    ctx: AppContext, user_id: str, session_id: str, body: ToolDecision, client_id: str | None
) -> ToolApprovalRow:
    async with ctx.database.begin() as db:
        session = await get_owned(db, user_id, session_id)  # no lock: the UPDATE decides
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
        if known is not None and not await approvals.still_open(db, session.id, body.call_id):
            raise ApiError(409, "already_decided", _ALREADY.get(known.status, known.status))
        # no row yet, or one committed since the UPDATE looked and still open: look again
        if known is not None or session.active_run_id is not None:
            raise NotStoredYet(row_seen=known is not None)
        raise ApiError(404, "unknown_call", _UNKNOWN)


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
