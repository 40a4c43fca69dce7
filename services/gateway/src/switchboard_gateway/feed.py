"""One shard's feed: the gateway reads each shard stream once, from `next`, keeps its batches
in the replay ring and hands them to the fan-out. Marks (messages that are not events) tell
where the stream ends now: `sync` publishes one and waits until the feed has read it."""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from switchboard_events import Names
from switchboard_events.stream_reader import StreamReader

from .replay import Batch, ReplayRing

log = logging.getLogger(__name__)

Dispatch = Callable[[int, Batch], None]
"""(shard, batch): hand a batch's events to the local subscriptions."""
PublishMark = Callable[[int], Awaitable[str]]
"""Publish a mark on a shard; its id."""
MARKS_KEPT = 256
"""Mark ids remembered after they were read (a mark can be read before its publish returns)."""


class ShardFeed:
    def __init__(
        self,
        urls: list[str],
        names: Names,
        shard: int,
        ring: ReplayRing,
        dispatch: Dispatch,
        publish_mark: PublishMark,
    ) -> None:
        self.shard = shard
        self.last_offset: int | None = None
        """The last offset this feed read (a batch or a mark): the fan-out has handed out
        every event up to it."""
        self._ring = ring
        self._dispatch = dispatch
        self._publish_mark = publish_mark
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._waiting: dict[str, asyncio.Future[int]] = {}
        self.reader = StreamReader(
            urls, names, shard, self._on_batch, "next", on_mark=self._on_mark
        )

    @property
    def connected(self) -> bool:
        connection = self.reader.connection
        return connection is not None and not connection.is_closed

    async def start(self) -> None:
        await self.reader.start()

    async def close(self) -> None:
        await self.reader.close()

    def _on_batch(self, offset: int, lines: list[bytes]) -> None:
        """Never raises: the reader would hand the batch again, and the ring would hold it
        twice (a bad batch is logged and skipped instead)."""
        batch = Batch.read(offset, lines)
        self.last_offset = offset
        self._ring.add(self.shard, batch)
        try:
            self._dispatch(self.shard, batch)
        except Exception:
            log.exception("shard %d: batch at %d not handed out", self.shard, offset)

    def _on_mark(self, offset: int, mark_id: str) -> None:
        self.last_offset = offset
        self._ring.seen(self.shard, offset)
        self._seen[mark_id] = offset
        if len(self._seen) > MARKS_KEPT:
            self._seen.popitem(last=False)
        waiter = self._waiting.pop(mark_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(offset)

    async def high(self, timeout: float) -> int:
        """An offset such that the fan-out handed out every event up to it and every later one
        reaches subscriptions registered now: `last_offset`, or a mark's when none yet."""
        if self.last_offset is not None:
            return self.last_offset
        return await self.sync(timeout)

    async def sync(self, timeout: float) -> int:
        """Publish a mark and wait until this feed read it: its offset (TimeoutError)."""
        async with asyncio.timeout(timeout):
            mark_id = await self._publish_mark(self.shard)
            seen = self._seen.get(mark_id)
            if seen is not None:
                return seen
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[mark_id] = waiter
            try:
                return await waiter
            finally:
                self._waiting.pop(mark_id, None)
