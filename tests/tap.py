"""Watching a session's events from the broker, as a gateway sees them: its shard's stream.

`Taps(settings)` keeps one `StreamReader` per shard (from `next`, started at the first session
of that shard) and hands each session's events to its `Tap`; `tap(settings, session_id)` is the
one-session shortcut. Every event is parsed (validated) and carries its cursor, so a test can
check positions too.
"""

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from switchboard_events import BrokerSettings, Event, names_from, parse_event
from switchboard_events.routing import shard_of
from switchboard_events.stream_reader import StreamReader
from switchboard_protocol.cursor import Cursor, cursor_tag

TIMEOUT = 20.0


@dataclass
class Tap:
    """One session's events from its shard's stream (of `types` only, when given), in order."""

    session_id: str
    types: frozenset[str] | None = None
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    def offer(self, event: Event) -> None:
        if self.types is None or event.type in self.types:
            self.events.put_nowait(event)

    async def next(self, timeout: float = TIMEOUT) -> Event:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def take(self, count: int, timeout: float = TIMEOUT) -> list[Event]:
        """The next `count` events."""
        return [await self.next(timeout) for _ in range(count)]

    async def until(self, event_type: str, run_id: str | None = None) -> list[Event]:
        """Events up to and including the first of `event_type` (of `run_id`, if given)."""
        seen: list[Event] = []
        while True:
            event = await self.next()
            seen.append(event)
            if event.type == event_type and (run_id is None or event.run_id == run_id):
                return seen

    async def run(self, run_id: str) -> list[Event]:
        """Every event of `run_id` up to its run_end (events of other runs are skipped)."""
        return [e for e in await self.until("run_end", run_id) if e.run_id == run_id]

    def drain(self) -> list[Event]:
        """What arrived and was not taken yet."""
        out: list[Event] = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


class Taps:
    """Taps on any number of sessions: one stream reader per shard they live in."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.names = names_from(settings)
        self._readers: dict[int, StreamReader] = {}
        self._taps: dict[str, list[Tap]] = {}
        self._lock = asyncio.Lock()

    async def session(self, session_id: str, types: Iterable[str] | None = None) -> Tap:
        """A tap on `session_id`: every event of it published from now on."""
        tap = Tap(session_id, frozenset(types) if types is not None else None)
        self._taps.setdefault(session_id, []).append(tap)
        await self._reader(shard_of(session_id, self.settings.stream_shards))
        return tap

    async def _reader(self, shard: int) -> None:
        async with self._lock:
            if shard in self._readers:
                return
            reader = StreamReader(
                self.settings.broker_urls,
                self.names,
                shard,
                lambda offset, lines: self._on_batch(shard, offset, lines),
                start="next",
            )
            await reader.start()
            self._readers[shard] = reader

    def _on_batch(self, shard: int, offset: int, lines: list[bytes]) -> None:
        for index, line in enumerate(lines):
            event = parse_event(line)
            taps = self._taps.get(event.session_id)
            if not taps:
                continue
            cursor = Cursor(shard, offset, index, cursor_tag(event.id)).encode()
            event = event.model_copy(update={"cursor": cursor})
            for tap in taps:
                tap.offer(event)

    async def close(self) -> None:
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            await reader.close()


@asynccontextmanager
async def tap(
    settings: BrokerSettings, session_id: str, types: Iterable[str] | None = None
) -> AsyncIterator[Tap]:
    """A tap on one session's events (its shard's stream, from `next`), closed on exit."""
    taps = Taps(settings)
    try:
        yield await taps.session(session_id, types)
    finally:
        await taps.close()


@asynccontextmanager
async def taps_on(settings: BrokerSettings) -> AsyncIterator[Taps]:
    """`Taps` closed on exit."""
    taps = Taps(settings)
    try:
        yield taps
    finally:
        await taps.close()
