"""The outbox relay: publishes committed `outbox` rows with confirms, in order per session,
and deletes them once the broker confirmed them.

Woken right after every commit in this process that wrote rows (`Outbox.committed`); polls
every OUTBOX_POLL_S for rows another replica or a crash left behind. Replicas never publish a
row concurrently: a round claims the *oldest* row of each session with `FOR UPDATE SKIP LOCKED`
(a session whose oldest row another relay holds is skipped whole, since its later rows are not
the oldest), then takes that session's rows in `id` order. Sessions go out in parallel, each
one row at a time, each row confirmed before the next (the echo `message` before its run
request). A failed publish keeps that row and the session's later ones; what was confirmed is
deleted, and the round is retried after a backoff.

At least once: a crash after the broker's confirm and before the delete commits republishes
the row. Events carry their `id` (clients and the persister dedupe); a cancel is idempotent; a
run request carries its `run_id` (docs/internals.md, "Outbox", says what a worker does with a
second copy).
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from sqlalchemy import delete, select, text
from switchboard_events.deadletter import backoff_s

from .app_context import AppContext
from .tables import OutboxRow

log = logging.getLogger(__name__)
SESSIONS_PER_ROUND = 100
ROWS_PER_ROUND = 1000
_CLAIM = text(
    """
    SELECT o.session_id FROM outbox o
    WHERE NOT EXISTS (
        SELECT 1 FROM outbox earlier WHERE earlier.session_id = o.session_id AND earlier.id < o.id
    )
    ORDER BY o.id
    LIMIT :sessions
    FOR UPDATE OF o SKIP LOCKED
    """
)


class RelayFailed(RuntimeError):
    """Some rows could not be published this round (they stay, and are retried)."""


async def relay_once(ctx: AppContext) -> int:
    """Publish one round (claimed sessions' rows, in order); how many rows went out."""
    failure: BaseException | None = None
    async with ctx.database.begin() as db:
        sessions = list((await db.execute(_CLAIM, {"sessions": SESSIONS_PER_ROUND})).scalars())
        if not sessions:
            return 0
        query = (
            select(OutboxRow)
            .where(OutboxRow.session_id.in_(sessions))
            .order_by(OutboxRow.id)
            .limit(ROWS_PER_ROUND)
            .with_for_update()
        )
        lanes: dict[str, list[OutboxRow]] = {}
        for row in (await db.execute(query)).scalars():
            lanes.setdefault(row.session_id, []).append(row)
        results = await asyncio.gather(*(_publish_in_order(ctx, rows) for rows in lanes.values()))
        sent = [row_id for done, _ in results for row_id in done]
        failure = next((exc for _, exc in results if exc is not None), None)
        if sent:
            await db.execute(delete(OutboxRow).where(OutboxRow.id.in_(sent)))
    ctx.metrics.outbox_published.inc(len(sent))
    if failure is not None:
        raise RelayFailed(f"{len(sent)} published, then: {failure!r}") from failure
    return len(sent)


async def _publish_in_order(
    ctx: AppContext, rows: Sequence[OutboxRow]
) -> tuple[list[int], BaseException | None]:
    """One session's rows, each confirmed before the next; stops at the first failure."""
    done: list[int] = []
    for row in rows:
        try:
            await ctx.broker.publish_outbox(row.kind, row.routing, row.body)
        except Exception as exc:  # noqa: BLE001 - the row stays; the round reports it
            return done, exc
        done.append(row.id)
    return done, None


async def run_relay(ctx: AppContext) -> None:
    """Relay until cancelled: after each commit that wrote rows, and every OUTBOX_POLL_S."""
    failures = 0
    while True:
        ctx.outbox.committed.clear()  # a commit during the round sets it again
        if not ctx.broker.ready:
            await asyncio.sleep(ctx.settings.broker_retry_s)
            continue
        try:
            sent = await relay_once(ctx)
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - broker or database trouble: retry
            failures += 1
            log.warning("outbox relay failed (%r); retrying", exc)
            await asyncio.sleep(backoff_s(failures))
            continue
        if sent:
            continue  # more may be waiting (a full round, or rows committed meanwhile)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.outbox.committed.wait(), ctx.settings.outbox_poll_s)
