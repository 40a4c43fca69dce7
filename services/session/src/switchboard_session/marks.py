"""Read-your-writes across the stream: wait until ingest has stored past a mark.

A device sees an event on its shard stream before this service has stored it (ingest reads the
same stream, shard.py). A request whose answer depends on such an event (a message refused
`run_active` right after `run_end`; a decision for a `tool_call` not stored yet) publishes a
mark on the session's shard and waits here until ingest has committed past it: everything the
device saw is before the mark, so the database then holds it, and one more look answers
exactly (docs/internals.md, "Read your writes").

Ingest may run on another replica: it sends the marks' ids with `pg_notify` on `CHANNEL` in
the transaction that stores past them (delivered at commit). Each replica keeps ONE connection
listening (`run`, reconnecting) and resolves the waiting futures by mark id. A wait ends False
(the caller looks once more anyway) when its mark is not stored within the cap, the broker
does not take the mark, or the listening connection is lost meanwhile (a notice may be lost
with it). No database connection of the pool and no lock is held while waiting.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import asyncpg
from prometheus_client import Counter
from switchboard_protocol import new_id

from .broker import BrokerLink
from .migrate import _plain_dsn

log = logging.getLogger(__name__)
CHANNEL = "switchboard_ingested"
"""The NOTIFY channel: payload = the ids of the marks a commit stored past, space-separated."""
MAX_PAYLOAD = 7000
"""Bytes of mark ids per notice (Postgres refuses payloads of 8000 bytes and more)."""
RETRY_S = 1.0


def payloads(mark_ids: list[str]) -> list[str]:
    """`mark_ids` in notices of at most MAX_PAYLOAD bytes each."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for mark_id in mark_ids:
        if current and size + len(mark_id) + 1 > MAX_PAYLOAD:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(mark_id)
        size += len(mark_id) + 1
    if current:
        chunks.append(" ".join(current))
    return chunks


class IngestWaits:
    """Marks this replica waits for, by id; `run` keeps the listening connection."""

    def __init__(self, database_url: str, check_s: float, outcomes: Counter) -> None:
        self._dsn = _plain_dsn(database_url)
        self._check_s = check_s
        self._outcomes = outcomes
        self._waits: dict[str, asyncio.Future[None]] = {}
        self._up = asyncio.Event()

    async def run(self) -> None:
        """Listen on CHANNEL until cancelled, connecting again after a loss."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                await conn.add_listener(CHANNEL, self._notified)
                self._up.set()
                await self._until_lost(conn)
            except Exception as exc:  # noqa: BLE001 - listen again (waits meanwhile: False)
                log.warning("ingest notices: connection lost (%r); listening again", exc)
            finally:
                self._up.clear()
                self._fail_all()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)
                    if not conn.is_closed():
                        conn.terminate()
            await asyncio.sleep(RETRY_S)

    async def _until_lost(self, conn: asyncpg.Connection) -> None:
        """Return when the connection is closed or stops answering (a dead link)."""
        while not conn.is_closed():
            await asyncio.sleep(self._check_s)
            await conn.fetchval("SELECT 1", timeout=self._check_s * 5)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        for mark_id in payload.split():
            future = self._waits.pop(mark_id, None)
            if future is not None and not future.done():
                future.set_result(None)

    def _fail_all(self) -> None:
        waits, self._waits = self._waits, {}
        for future in waits.values():
            if not future.done():
                future.set_exception(ConnectionError("ingest notices' connection lost"))

    async def after_ingest(self, broker: BrokerLink, shards: Iterable[int], timeout: float) -> bool:
        """Publish a mark on each of `shards` and return True once ingest (any replica) has
        stored past them all; False when that is not known within `timeout` (see the module's
        docstring)."""
        done = all(await asyncio.gather(*(self._one(broker, s, timeout) for s in set(shards))))
        self._outcomes.labels("stored" if done else "not_stored").inc()
        return done

    async def _one(self, broker: BrokerLink, shard: int, timeout: float) -> bool:
        mark_id = new_id()
        try:
            async with asyncio.timeout(timeout):
                await self._up.wait()
                future = asyncio.get_running_loop().create_future()
                self._waits[mark_id] = future  # before the mark exists: its notice may come first
                await broker.mark(shard, mark_id)
                await future
                return True
        except (TimeoutError, ConnectionError) as exc:
            log.warning("ingest did not store past mark %s of shard %d in %.1f s (%r)",
                        mark_id, shard, timeout, exc)  # fmt: skip
            return False
        except Exception as exc:  # noqa: BLE001 - the broker refused the mark: look once more
            log.warning("mark on shard %d not published (%r)", shard, exc)
            return False
        finally:
            self._waits.pop(mark_id, None)
