"""Runs: one active per session (the session row's `active_run_id`), the rest wait in order."""

from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import HistoryItem, RunRequest

from ..tables import RunRow, SessionRow
from .sessions import now

TERMINAL = ("completed", "failed", "cancelled")
_LOCK_USER = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def run_request(
    run: RunRow,
    session: SessionRow,
    history: list[dict[str, Any]] | None = None,
    history_dropped: int = 0,
) -> RunRequest:
    """The run request the workers consume (docs/internals.md): the run, and the conversation
    before its message (`history`, oldest first) with how many older messages were left out."""
    return RunRequest(
        run_id=run.id,
        session_id=session.id,
        message_id=run.message_id,
        user_id=session.user_id,
        agent_type=session.agent_type,
        mode=session.mode,
        content=run.content,
        audio_b64=run.audio_b64,
        client_id=run.client_id,
        metadata=run.metadata_,
        history=[HistoryItem.model_validate(item) for item in history or []],
        history_dropped=history_dropped,
    )


async def get_run(db: AsyncSession, run_id: str) -> RunRow | None:
    return await db.get(RunRow, run_id)


async def next_waiting(db: AsyncSession, session_id: str) -> RunRow | None:
    """The oldest run still waiting for its turn."""
    query = (
        select(RunRow)
        .where(
            RunRow.session_id == session_id,
            RunRow.status == "queued",
            RunRow.dispatched_at.is_(None),
        )
        .order_by(RunRow.created_at, RunRow.id)
        .limit(1)
    )
    return (await db.execute(query)).scalar_one_or_none()


def activate(session: SessionRow, run: RunRow) -> None:
    """Make `run` the session's active run (the caller holds the session row's lock)."""
    session.active_run_id = run.id
    run.dispatched_at = now()


async def cancel_waiting(db: AsyncSession, session_id: str, reason: str) -> None:
    """Cancel every run of the session that never went to a worker."""
    await db.execute(
        update(RunRow)
        .where(
            RunRow.session_id == session_id,
            RunRow.status == "queued",
            RunRow.dispatched_at.is_(None),
        )
        .values(status="cancelled", error=reason, ended_at=now())
    )


async def active_run(db: AsyncSession, session: SessionRow) -> RunRow | None:
    return await db.get(RunRow, session.active_run_id) if session.active_run_id else None


async def count_waiting(db: AsyncSession, session_id: str) -> int:
    query = select(RunRow.id).where(
        RunRow.session_id == session_id,
        RunRow.status == "queued",
        RunRow.dispatched_at.is_(None),
    )
    return len(list((await db.execute(query)).scalars()))


async def active_runs_of_user(
    db: AsyncSession, user_id: str, other_than: str, *, lock: bool = True
) -> int:
    """Active runs of the user's live sessions but `other_than`, after taking the user's run
    lock (`lock`).

    The transaction-scoped advisory lock serializes run starts of one user across replicas
    until commit; an ended session's run is on its way out (it was cancelled) and not counted.
    """
    if lock:
        await db.execute(_LOCK_USER, {"key": f"runs:{user_id}"})
    query = (
        select(func.count())
        .select_from(SessionRow)
        .where(
            SessionRow.user_id == user_id,
            SessionRow.id != other_than,
            SessionRow.status == "active",
            SessionRow.active_run_id.is_not(None),
        )
    )
    return int((await db.execute(query)).scalar_one())


async def sessions_with_active_runs(db: AsyncSession, user_id: str) -> list[str]:
    """The user's live sessions that have an active run (no lock taken)."""
    query = select(SessionRow.id).where(
        SessionRow.user_id == user_id,
        SessionRow.status == "active",
        SessionRow.active_run_id.is_not(None),
    )
    return list((await db.execute(query)).scalars())
