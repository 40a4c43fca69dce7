"""Run leases, the session service's side (the worker's is lease.py in the run worker).

A run's lease is renewed by its worker's renewals (the RPC queue, rpc.py) and by its own
events as ingest folds them (progress.py: `extend`); storing the run's `run_end` ends the run,
and with it the lease. The reaper runs in the replica that owns ingest (ingest.py), and fails
a dispatched run once, under its session row's lock (`FOR UPDATE SKIP LOCKED`, then the run's
state checked again under that lock):

- `worker_lost`: its lease lapsed (RUN_LEASE_S without a renewal or an event);
- `no_worker`: no worker took it (no lease ever) RUN_START_TIMEOUT_S + RUN_LEASE_S after it
  was sent (a worker drops a request past its `start_by`, RUN_START_TIMEOUT_S).

Failing writes, in one transaction with the run's new state: a cancel (a worker still running
it stops), `error` and `run_end` `failed` at seq 1 000 000 001 and 1 000 000 002 (outbox); the
session then starts its next waiting run. A reaper begins only after its owner's broker link
has been up for RUN_LEASE_S, so renewals that queued while no replica read them are renewed
first.
"""

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_events import make_event
from switchboard_events.routing import LOST_RUN_SEQ

from .app_context import AppContext
from .dispatch import start_run
from .store import approvals, runs
from .store.sessions import now
from .tables import RunRow, SessionRow

log = logging.getLogger(__name__)
REAP_EVERY_S = 1.0
BATCH = 100
UNFINISHED = ("queued", "running")
MESSAGES = {
    "worker_lost": "the worker running this reply stopped; reload the conversation",
    "no_worker": "no worker took this message in time; send it again",
}


async def renew(db: AsyncSession, run_ids: Iterable[str], worker: str, lease_s: float) -> set[str]:
    """Extend the leases of `run_ids` held by `worker`; the ids whose lease was renewed (the
    others ended, were failed, are unknown, or another worker holds them: a second copy of a
    request that reached a second worker stops there, at its first renewal). The rows are
    locked in id order first, as ingest's fold locks them (no deadlock between the two)."""
    run_ids = sorted(run_ids)
    ordered = select(RunRow.id).where(RunRow.id.in_(run_ids)).order_by(RunRow.id)
    await db.execute(ordered.with_for_update())
    query = (
        update(RunRow)
        .where(
            RunRow.id.in_(list(run_ids)),
            RunRow.status.in_(UNFINISHED),
            or_(RunRow.lease_owner.is_(None), RunRow.lease_owner == worker[:128]),
        )
        .values(lease_owner=worker[:128], lease_expires_at=now() + timedelta(seconds=lease_s))
        .returning(RunRow.id)
    )
    return set((await db.execute(query)).scalars())


def extend(row: RunRow, worker: str | None, lease_s: float) -> None:
    """A run's events were folded: they renew its lease (its `run_start` names the worker
    holding it) unless they ended it."""
    if row.status not in UNFINISHED:
        return
    row.lease_owner = row.lease_owner or worker
    row.lease_expires_at = now() + timedelta(seconds=lease_s)


def _due(stamp: datetime, start_cutoff: datetime) -> ColumnElement[bool]:
    """Runs whose lease lapsed, or that no worker took before `start_cutoff`."""
    return and_(
        RunRow.status.in_(UNFINISHED),
        RunRow.dispatched_at.is_not(None),
        or_(
            RunRow.lease_expires_at < stamp,
            and_(
                RunRow.lease_expires_at.is_(None),
                RunRow.lease_owner.is_(None),
                RunRow.dispatched_at < start_cutoff,
            ),
        ),
    )


async def reap_once(ctx: AppContext) -> int:
    """Fail every due run (one batch); how many were failed."""
    settings = ctx.settings
    stamp = now()
    start_cutoff = stamp - timedelta(seconds=settings.run_start_timeout_s + settings.run_lease_s)
    due = _due(stamp, start_cutoff)
    async with ctx.database.begin() as db:
        query = select(RunRow.session_id).where(due).limit(BATCH)
        session_ids = set((await db.execute(query)).scalars())
    failed = 0
    for session_id in session_ids:
        async with ctx.database.begin() as db:
            lock = select(SessionRow).where(SessionRow.id == session_id)
            lock = lock.with_for_update(skip_locked=True)
            session = (await db.execute(lock)).scalar_one_or_none()
            if session is None:
                continue  # another replica (or a writer) holds it: its turn
            mine = select(RunRow).where(RunRow.session_id == session_id, due).with_for_update()
            for run in (await db.execute(mine)).scalars():
                await fail_run(ctx, db, session, run)
                failed += 1
    return failed


async def fail_run(ctx: AppContext, db: AsyncSession, session: SessionRow, run: RunRow) -> None:
    """End `run` failed (`worker_lost` if a worker held it, else `no_worker`), announce it, and
    start the session's next waiting run (session row locked)."""
    taken = run.lease_owner is not None or run.lease_expires_at is not None
    code = "worker_lost" if taken else "no_worker"
    log.warning("run %s of session %s: %s", run.id, session.id, code)
    run.status = "failed"
    run.error = f"{code}: {MESSAGES[code]}"
    run.ended_at = now()
    run.lease_expires_at = None
    await approvals.close_pending(db, approvals.RUN_ENDED, run_id=run.id)
    await ctx.outbox.cancel(db, run.id, session.id)
    envelope = {"session_id": session.id, "run_id": run.id, "agent_type": session.agent_type}
    error = {"code": code, "message": MESSAGES[code]}
    await ctx.outbox.event(db, make_event("error", error, seq=LOST_RUN_SEQ + 1, **envelope))
    ended = {"status": "failed"}
    await ctx.outbox.event(db, make_event("run_end", ended, seq=LOST_RUN_SEQ + 2, **envelope))
    ctx.metrics.runs_reaped.labels(code).inc()
    if session.active_run_id != run.id:
        return
    session.active_run_id = None
    nxt = await runs.next_waiting(db, session.id) if session.status == "active" else None
    if nxt is not None:
        await start_run(ctx, db, session, nxt)


async def run_reaper(ctx: AppContext) -> None:
    """Reap every REAP_EVERY_S once the broker link has been up for RUN_LEASE_S."""
    loop = asyncio.get_running_loop()
    up_since: float | None = None
    while True:
        await asyncio.sleep(REAP_EVERY_S)
        if not ctx.broker.ready:
            up_since = None
            continue
        up_since = up_since if up_since is not None else loop.time()
        if loop.time() - up_since < ctx.settings.run_lease_s:
            continue
        try:
            while await reap_once(ctx) == BATCH:
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the reaper must outlive outages
            log.warning("reaping runs failed: %r", exc)
