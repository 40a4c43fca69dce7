"""One session's events over a range of a shard's offsets: from the replay ring where it holds
them, read back from the stream (`read_range`) where it does not.

Stream reads go over one shared connection (a channel each), at most READS_AT_ONCE at a time,
and are read whole before the device gets anything, keeping only that session's lines: a slow
device never holds a channel or a slot."""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import cast

from aio_pika.abc import AbstractConnection
from switchboard_events import Names
from switchboard_events.broker_connection import connect_any
from switchboard_events.stream_reader import read_range

from .lines import session_of
from .replay import ReplayRing

Lines = list[tuple[int, bytes]]
"""(index in the batch, encoded event) of one session's events in one batch."""
SessionBatch = tuple[int, Lines]
"""A batch's offset and that session's lines in it."""
READS_AT_ONCE = 16
"""Stream reads in flight at once (a reconnect storm after a restart asks for many)."""


class History:
    def __init__(self, ring: ReplayRing, urls: list[str], names: Names) -> None:
        self.ring = ring
        self._urls = urls
        self._names = names
        self._connection: AbstractConnection | None = None
        self._connecting = asyncio.Lock()
        self._slots = asyncio.Semaphore(READS_AT_ONCE)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def session_batches(
        self, shard: int, session_id: str, first: int, last: int
    ) -> list[SessionBatch]:
        """The session's events at offsets in [first, last], batch by batch, in order (batches
        without any left out). A stream whose retention passed `first` starts later: a caller
        that needs `first` itself checks the first offset."""
        found: list[SessionBatch] = []
        at = first
        while at <= last and not self.ring.covers(shard, at):  # (again if it evicted meanwhile)
            at = await self._from_stream(shard, session_id, at, last, found)
        for batch in self.ring.between(shard, at, last):
            lines = batch.of(session_id)
            if lines:
                found.append((batch.offset, lines))
        return found

    async def _from_stream(
        self, shard: int, session_id: str, first: int, last: int, found: list[SessionBatch]
    ) -> int:
        """Read [first, last] from the stream into `found` until the ring covers the next
        offset; that offset (last + 1 when the stream had it all)."""
        async with self._slots:
            source = read_range(await self._source(), self._names, shard, first, last)
            async with aclosing(cast(AsyncGenerator[tuple[int, list[bytes]]], source)) as read:
                async for offset, lines in read:
                    kept = _of(lines, session_id)
                    if kept and offset <= last:
                        found.append((offset, kept))
                    if self.ring.covers(shard, offset + 1):
                        return offset + 1
        return last + 1

    async def _source(self) -> AbstractConnection:
        async with self._connecting:
            if self._connection is None or self._connection.is_closed:
                self._connection = await connect_any(self._urls, "switchboard-gateway-replay")
            return self._connection


def _of(lines: list[bytes], session_id: str) -> Lines:
    return [(i, line) for i, line in enumerate(lines) if session_of(line) == session_id]
