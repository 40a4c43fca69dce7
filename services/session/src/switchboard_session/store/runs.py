"""Runs: one active per session (the session row's `active_run_id`), the rest wait in order."""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..tables import RunRow, SessionRow
from .sessions import now

TERMINAL = ("completed", "failed", "cancelled")


def run_request(run: RunRow, session: SessionRow) -> dict[str, Any]:
    """The run request the workers consume (docs/internals.md)."""
    return {
        "run_id": run.id,
        "session_id": session.id,
        "message_id": run.message_id,
        "user_id": session.user_id,
        "agent_type": session.agent_type,
        "mode": session.mode,
        "content": run.content,
        "audio_b64": run.audio_b64,
        "client_id": run.client_id,
        "metadata": run.metadata_,
    }


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
