"""Expires idle sessions, writes the counts of refused requests (refusals.py) and deletes audit
rows past AUDIT_RETENTION_S. Safe with several replicas: rows are claimed with SKIP LOCKED."""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .app_context import AppContext
from .lifecycle import end_session
from .store.runs import TERMINAL
from .store.sessions import now
from .tables import AuditRow, RateLimitRow, RunRow, SessionRow

log = logging.getLogger(__name__)
BATCH = 100
AUDIT_BATCH = 1000
AUDIT_BATCHES = 10
"""Audit rows deleted per sweep at most: AUDIT_BATCHES transactions of AUDIT_BATCH."""


async def sweep_once(ctx: AppContext) -> int:
    """End every active session past its expiry (one batch); how many were ended."""
    async with ctx.database.begin() as db:
        query = (
            select(SessionRow)
            .where(SessionRow.status == "active", SessionRow.expires_at < now())
            .order_by(SessionRow.expires_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        expired = list((await db.execute(query)).scalars())
        for row in expired:
            await end_session(ctx, db, row, "expired")
        stale = now() - timedelta(hours=1)
        await db.execute(delete(RateLimitRow).where(RateLimitRow.window_start < stale))
        await _drop_old_audio(db, ctx.settings.audio_retention_s)
    ctx.metrics.sessions_expired.inc(len(expired))
    return len(expired)


async def _drop_old_audio(db: AsyncSession, retention_s: float) -> None:
    """Clear the audio of runs that ended more than `retention_s` ago (AUDIO_RETENTION_S)."""
    cutoff = now() - timedelta(seconds=retention_s)
    await db.execute(
        update(RunRow)
        .where(
            RunRow.audio_b64.is_not(None),
            RunRow.ended_at < cutoff,
            RunRow.status.in_(TERMINAL),
        )
        .values(audio_b64=None)
    )


async def prune_audit(ctx: AppContext) -> int:
    """Delete audit rows older than AUDIT_RETENTION_S, oldest first (by id, which follows
    time): only the AUDIT_BATCH lowest ids are looked at per transaction, so no sweep scans
    the table. How many were deleted."""
    retention_s = ctx.settings.audit_retention_s
    if not retention_s:
        return 0
    deleted = 0
    for _ in range(AUDIT_BATCHES):
        cutoff = now() - timedelta(seconds=retention_s)
        oldest = select(AuditRow.id).order_by(AuditRow.id).limit(AUDIT_BATCH).scalar_subquery()
        query = (
            delete(AuditRow)
            .where(AuditRow.id.in_(oldest), AuditRow.at < cutoff)
            .returning(AuditRow.id)
        )
        async with ctx.database.begin() as db:
            count = len((await db.execute(query)).all())
        deleted += count
        if count < AUDIT_BATCH:
            break
    return deleted


async def run_sweeper(ctx: AppContext) -> None:
    """Sweep every SWEEP_INTERVAL_S until cancelled; failures are logged and retried."""
    while True:
        try:
            while await sweep_once(ctx) == BATCH:
                pass
            await ctx.refusals.flush(ctx.database)
            await prune_audit(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the sweeper must outlive outages
            log.warning("sweep failed: %r", exc)
        await asyncio.sleep(ctx.settings.sweep_interval_s)
