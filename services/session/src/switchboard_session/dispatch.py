"""Turning user messages into runs: one active run per session, enforced on the locked row."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import make_event, new_id

from .app_context import AppContext
from .errors import ApiError
from .store import messages, runs
from .store.conversation import Budget, conversation
from .store.sessions import get_owned, touch
from .tables import RunRow, SessionRow

BUSY_CODES = ("run_active", "too_many_runs")
"""Refusals that a run ending a moment later lifts (worth a wait on ingest for: routes/runs.py)."""
RUNS_RETRY_AFTER_S = 2


@dataclass(frozen=True)
class Submission:
    content: str
    metadata: dict[str, Any]
    on_busy: str = "reject"
    client_id: str | None = None
    audio_b64: str | None = None


async def submit(
    ctx: AppContext, db: AsyncSession, user_id: str, session_id: str, sub: Submission
) -> tuple[str, str]:
    """Store the user message and its run; start it now, or queue it behind the active one.

    The session row stays locked until commit, so two replicas cannot both start a run.
    The echo, the run request (and, for `interrupt`, the cancel) are outbox rows of the same
    transaction: published after the commit, or never (outbox.py). 503 `broker_unavailable`
    while the broker is known to be down, before anything is stored (docs/internals.md).

    A run that starts now is counted against MAX_ACTIVE_RUNS_PER_USER twice: before anything
    is stored (unlocked: a user at the limit is refused without writing anything), and last,
    under the user's run lock (`_check_user_runs`). The lock serializes the
    run starts of one user until commit, so it is taken when everything else is written: held
    for a count and the commit, not for the whole transaction (one user's messages to several
    sessions would otherwise start their runs one transaction at a time).
    """
    ctx.broker.require()
    session = await get_owned(db, user_id, session_id, lock=True)
    if session.status != "active":
        raise ApiError(409, "session_ended", "the session has ended")
    busy = session.active_run_id is not None
    if busy and sub.on_busy == "reject":
        raise ApiError(409, "run_active", f"run {session.active_run_id} is still active")
    if not busy:
        await _check_user_runs(ctx, db, session, lock=False)
    if busy and sub.on_busy == "interrupt":
        await runs.cancel_waiting(db, session.id, "interrupted")  # older waiting runs
        await ctx.outbox.cancel(db, str(session.active_run_id), session.id)
    message_id, run = await _store(db, session, sub)
    touch(session, ctx.settings.session_ttl_s)
    await db.flush()
    # The echo goes out before the run request, so every device sees the user's message
    # before the first event of its run (a fast worker answers within milliseconds).
    await ctx.outbox.event(
        db,
        make_event(
            "message",
            {"content": sub.content, "message_id": message_id, "client_id": sub.client_id},
            session_id=session.id,
            agent_type=session.agent_type,
            metadata=sub.metadata,
        ),
    )
    if not busy:
        await start_run(ctx, db, session, run)
        await _check_user_runs(ctx, db, session, lock=True)  # last: see the docstring
    return message_id, run.id


async def _check_user_runs(
    ctx: AppContext, db: AsyncSession, session: SessionRow, *, lock: bool
) -> None:
    """429 `too_many_runs` when the user already has MAX_ACTIVE_RUNS_PER_USER active runs in
    other sessions than `session` (whose own run is not counted: it may be active already).

    `lock`: counted under a per-user advisory lock held until commit, so concurrent messages
    on any replica see each other's runs (the authoritative count); without it, a cheap early
    refusal."""
    limit = ctx.settings.max_active_runs_per_user
    if await runs.active_runs_of_user(db, session.user_id, session.id, lock=lock) >= limit:
        raise ApiError(
            429,
            "too_many_runs",
            f"at most {limit} runs at once per user (MAX_ACTIVE_RUNS_PER_USER); "
            "retry when one has ended, or enqueue on a busy session",
            headers={"Retry-After": str(RUNS_RETRY_AFTER_S)},
        )


async def _store(db: AsyncSession, session: SessionRow, sub: Submission) -> tuple[str, RunRow]:
    message_id = new_id()
    meta = {**sub.metadata, **({"audio": True} if sub.audio_b64 else {})}
    await messages.add_message(
        db,
        message_id=message_id,
        session_id=session.id,
        role="user",
        content=sub.content,
        client_id=sub.client_id,
        metadata=meta,
    )
    run = RunRow(
        id=uuid.uuid4().hex,
        session_id=session.id,
        message_id=message_id,
        content=sub.content,
        audio_b64=sub.audio_b64,
        client_id=sub.client_id,
        metadata_=sub.metadata,
        status="queued",
    )
    db.add(run)
    await db.flush()
    return message_id, run


async def start_run(ctx: AppContext, db: AsyncSession, session: SessionRow, run: RunRow) -> None:
    """Make `run` active and write its request, with the conversation before it, for the
    workers (session row locked)."""
    runs.activate(session, run)
    budget = Budget(ctx.settings.history_max_messages, ctx.settings.history_max_chars)
    history, dropped = await conversation(db, session.id, run.message_id, budget)
    request = runs.run_request(run, session, history, dropped)
    assert run.dispatched_at is not None
    start_by = run.dispatched_at + timedelta(seconds=ctx.settings.run_start_timeout_s)
    lease_s = ctx.settings.run_lease_s
    await ctx.outbox.run_request(
        db, request.model_copy(update={"start_by": start_by, "lease_s": lease_s})
    )
    ctx.metrics.runs_started.inc()


async def cancel_active(ctx: AppContext, db: AsyncSession, user_id: str, session_id: str) -> str:
    """Ask the workers to stop the active run; 409 `no_active_run` when there is none."""
    ctx.broker.require()
    session = await get_owned(db, user_id, session_id, lock=True)
    if session.active_run_id is None:
        raise ApiError(409, "no_active_run", "the session has no active run")
    await ctx.outbox.cancel(db, session.active_run_id, session.id)
    return session.active_run_id
