"""The replay ring: the most recent batches of every shard the gateway read, kept up to
REPLAY_RING_BYTES over all shards (the oldest go first), so that a device resuming shortly
after it left replays from memory; what the ring no longer holds is read back from the stream.

Per shard, the ring covers every offset from `covered_from` on (the first offset its feed saw,
then one past the newest batch evicted): an offset there that holds no batch held a mark."""

from collections import deque
from dataclasses import dataclass, field

from .lines import session_of


@dataclass(slots=True)
class Batch:
    """One stream message's events, with the session of each line (None: not an event)."""

    offset: int
    lines: list[bytes]
    sessions: list[str | None]
    size: int

    @classmethod
    def read(cls, offset: int, lines: list[bytes]) -> "Batch":
        return cls(offset, lines, [session_of(line) for line in lines], sum(map(len, lines)))

    def of(self, session_id: str) -> list[tuple[int, bytes]]:
        """(index, line) of the session's events in this batch."""
        return [(i, self.lines[i]) for i, s in enumerate(self.sessions) if s == session_id]


@dataclass(slots=True)
class _Shard:
    batches: deque[Batch] = field(default_factory=deque)
    covered_from: int | None = None


class ReplayRing:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._shards: dict[int, _Shard] = {}
        self._order: deque[int] = deque()
        """The shard of each batch held, oldest first (eviction order over all shards)."""

    def _shard(self, shard: int) -> _Shard:
        return self._shards.setdefault(shard, _Shard())

    def seen(self, shard: int, offset: int) -> None:
        """The feed of `shard` got `offset` (a batch or a mark): coverage starts at the first."""
        held = self._shard(shard)
        if held.covered_from is None:
            held.covered_from = offset

    def add(self, shard: int, batch: Batch) -> None:
        self.seen(shard, batch.offset)
        self._shard(shard).batches.append(batch)
        self._order.append(shard)
        self.size += batch.size
        while self.size > self.max_bytes and self._order:
            self._evict()

    def _evict(self) -> None:
        held = self._shards[self._order.popleft()]
        oldest = held.batches.popleft()
        held.covered_from = oldest.offset + 1
        self.size -= oldest.size

    def covers(self, shard: int, offset: int) -> bool:
        """Whether every batch of `shard` at `offset` or later is here."""
        held = self._shards.get(shard)
        return held is not None and held.covered_from is not None and offset >= held.covered_from

    def between(self, shard: int, first: int, last: int) -> list[Batch]:
        """The batches held with offsets in [first, last], oldest first (a copy: the ring may
        evict them while the caller still sends them)."""
        held = self._shards.get(shard)
        if held is None:
            return []
        found: list[Batch] = []
        for batch in reversed(held.batches):
            if batch.offset < first:
                break
            if batch.offset <= last:
                found.append(batch)
        found.reverse()
        return found
