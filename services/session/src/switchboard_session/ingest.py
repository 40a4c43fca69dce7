"""Ingest: the one replica holding the ingest lock (ownership.py) reads every shard stream.

The owner loads the stored offsets, starts one `ShardIngest` (shard.py) and one
`StreamReader` per shard (from the stored offset + 1, or "first"), consumes the RPC queue
(rpc.py: catch-ups, lease renewals) and runs the lease reaper (leases.py). Readers and the RPC
consumer ride out a broker restart by themselves. It stops all of it when the lock's
connection stops answering, a shard is fenced (another owner stored), or any part fails; then
it releases the lock and competes for it again. Standbys retry the lock
every INGEST_RETRY_S. Nothing in memory needs rebuilding on a takeover: the stored offset,
the stored rows and the folded progress were written together.
"""

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, Literal

from switchboard_events import broker_connection
from switchboard_events.stream_reader import StreamReader

from . import rpc
from .app_context import AppContext
from .leases import run_reaper
from .ownership import IngestLock, lock_key
from .shard import ShardIngest
from .store import offsets

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0
"""Longest wait for ingest's readers and tasks to stop (closing connections)."""


async def run_ingest(ctx: AppContext) -> None:
    """Forever: wait for the ingest lock, ingest while it is held, let go, try again."""
    settings = ctx.settings
    lock = IngestLock(
        settings.async_database_url,
        lock_key(settings.broker_prefix),
        settings.ingest_retry_s,
        settings.ingest_check_s,
    )
    while True:
        await lock.acquire()
        log.info("this replica owns ingest")
        ctx.metrics.ingest_owner.set(1)
        try:
            await own(ctx, lock)
        except Exception as exc:  # noqa: BLE001 - let go, then compete again
            log.warning("ingest stopped (%r)", exc)
        finally:
            ctx.metrics.ingest_owner.set(0)
            await finish(lock.release())  # a second cancel must not keep the lock
        await asyncio.sleep(settings.broker_retry_s)


async def own(ctx: AppContext, lock: IngestLock) -> None:
    """Ingest every shard until the lock is lost or a part fails (raises then)."""
    names, count = ctx.broker.names, ctx.settings.stream_shards
    streams = names.streams(count)
    async with ctx.database.begin() as db:
        stored = await offsets.stored(db, streams)
    shards = [ShardIngest(ctx, k, streams[k], stored.get(streams[k])) for k in range(count)]
    readers: list[StreamReader] = []
    tasks = [asyncio.create_task(shard.run(), name=f"ingest-{shard.shard}") for shard in shards]
    try:
        # catch-ups are answered from the stored state at once, while the readers start
        tasks.append(asyncio.create_task(_serve_rpc(ctx, shards), name="ingest-rpc"))
        tasks.append(asyncio.create_task(_lost(lock), name="ingest-lock"))
        for shard in shards:
            reader = StreamReader(
                ctx.settings.broker_urls, names, shard.shard, shard.on_batch,
                start=_start(shard.committed), prefetch=ctx.settings.persist_prefetch,
                on_mark=shard.on_mark,
            )  # fmt: skip
            readers.append(reader)
        await asyncio.gather(*(reader.start() for reader in readers))
        tasks.append(asyncio.create_task(run_reaper(ctx), name="lease-reaper"))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await finish(_stop(tasks, readers))


async def finish(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run `cleanup` to its end (at most STOP_TIMEOUT_S) even when cancelled meanwhile, then
    pass the cancel on. A bare `shield` would return at the first cancel and leave the cleanup
    running detached: a stopped app would still have readers on the broker (a task group that
    aborts cancels its tasks twice)."""
    done = asyncio.ensure_future(asyncio.wait_for(cleanup, STOP_TIMEOUT_S))
    cancelled = False
    while not done.done():
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            cancelled = True
        except Exception as exc:  # noqa: BLE001 - a cleanup that failed is logged, not raised
            log.warning("ingest cleanup failed (%r)", exc)
    if cancelled:
        raise asyncio.CancelledError


async def _stop(tasks: list[asyncio.Task[None]], readers: list[StreamReader]) -> None:
    """Close the readers, then wait for the (cancelled) tasks to end."""
    for reader in readers:
        with contextlib.suppress(Exception):
            await reader.close()
    await asyncio.gather(*tasks, return_exceptions=True)


def _start(committed: int | None) -> int | Literal["first"]:
    return "first" if committed is None else committed + 1


async def _lost(lock: IngestLock) -> None:
    await lock.lost()
    raise LockLost("the ingest lock's connection stopped answering")


class LockLost(Exception):
    """This replica may no longer hold the ingest lock."""


async def _serve_rpc(ctx: AppContext, shards: list[ShardIngest]) -> None:
    """Consume the RPC queue, consuming again after a lost channel or connection (the
    shards' readers reopen by themselves meanwhile: ingest goes on). A request whose answer
    was lost with its channel comes again (it is acked once answered)."""
    while True:
        try:
            name = f"switchboard-session-rpc {ctx.settings.broker_prefix}".rstrip()
            async with broker_connection(ctx.settings, name) as conn:
                await rpc.serve(ctx, await conn.channel(), shards)
        except Exception as exc:  # noqa: BLE001 - consume again shortly
            log.warning("RPC queue consumer lost (%r); consuming again", exc)
        await asyncio.sleep(ctx.settings.broker_retry_s)
