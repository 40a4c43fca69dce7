"""Who ingests: one replica at a time holds a Postgres advisory lock on a connection of its own.

The lock lives as long as that connection: a replica that crashes, or loses its database link,
frees it and a standby (retrying every INGEST_RETRY_S) takes over. Losing the lock is noticed
by a check every INGEST_CHECK_S; until then the fence in `store/offsets.py` keeps a replica
that no longer owns ingest from storing anything.
"""

import asyncio
import contextlib
import hashlib
import logging

import asyncpg

from .migrate import _plain_dsn

log = logging.getLogger(__name__)
SLOW_CHECKS = 3
"""Checks in a row without an answer after which the lock counts as lost."""


def lock_key(prefix: str) -> int:
    """The advisory lock's key for a broker prefix (a signed 64-bit number)."""
    digest = hashlib.blake2b(f"switchboard-session-ingest:{prefix}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class IngestLock:
    """Acquire (waiting for it), then `lost()` returns once the lock may be gone."""

    def __init__(self, database_url: str, key: int, retry_s: float, check_s: float) -> None:
        self._dsn = _plain_dsn(database_url)
        self._key = key
        self._retry_s = retry_s
        self._check_s = check_s
        self._conn: asyncpg.Connection | None = None

    async def acquire(self) -> None:
        """Return once this process holds the lock (retrying every `retry_s`)."""
        while True:
            try:
                if await self._try():
                    return
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("ingest lock: database unavailable (%r); retrying", exc)
                await self.release()
            await asyncio.sleep(self._retry_s)

    async def _try(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, timeout=5)
        held = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
        return bool(held)

    async def lost(self) -> None:
        """Return when the lock's connection is gone (the lock with it), or has not answered
        for SLOW_CHECKS checks in a row. A slow answer alone (a loaded machine) is not a
        loss: letting go costs a takeover, and the offsets' fence keeps storage safe anyway."""
        conn = self._conn
        assert conn is not None
        slow = 0
        while True:
            await asyncio.sleep(self._check_s)
            try:
                await conn.fetchval("SELECT 1", timeout=self._check_s * 5)
                slow = 0
            except TimeoutError:
                slow += 1
                if slow < SLOW_CHECKS:
                    continue
                log.warning("ingest lock: its connection did not answer %d checks", slow)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("ingest lock lost (%r)", exc)
                return

    async def release(self) -> None:
        """Close the connection (which frees the lock)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
            if not conn.is_closed():
                conn.terminate()
