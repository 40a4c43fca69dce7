"""A shard's batches over a range of offsets, from the replay ring where it holds them and
read back from the stream (`read_range`) where it does not."""

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import cast

from switchboard_events import Names
from switchboard_events.stream_reader import read_range

from .replay import Batch, ReplayRing


class History:
    def __init__(self, ring: ReplayRing, urls: list[str], names: Names) -> None:
        self.ring = ring
        self._urls = urls
        self._names = names

    async def batches(self, shard: int, first: int, last: int) -> AsyncGenerator[Batch]:
        """The batches with offsets in [first, last], in order: from the stream until the ring
        covers the next offset, then from the ring. A stream whose retention passed `first`
        starts later (a caller that needs `first` itself checks the first offset)."""
        at = first
        if not self.ring.covers(shard, at):
            source = read_range(self._urls, self._names, shard, at, last)
            async with aclosing(cast(AsyncGenerator[tuple[int, list[bytes]]], source)) as read:
                async for offset, lines in read:
                    if offset > last:
                        return
                    yield Batch.read(offset, lines)
                    at = offset + 1
                    if self.ring.covers(shard, at):
                        break
                else:
                    return
        for batch in self.ring.between(shard, at, last):
            yield batch

    async def batch_at(self, shard: int, offset: int) -> Batch | None:
        """The batch at exactly `offset`, if the ring or the stream still has one there."""
        async with aclosing(self.batches(shard, offset, offset)) as found:
            async for batch in found:
                return batch if batch.offset == offset else None
        return None
