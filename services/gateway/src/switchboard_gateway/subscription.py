"""One device's view of its session's events: what it missed (the replay, read lazily), then
the live events the fan-out hands it, with no gap and no duplicate between the two.

The fan-out registers a subscription before the join decides where it starts, so live events
that come meanwhile wait here with their positions; `begin` then keeps only those after both
the start and the replayed range. The live buffer is bounded (OUTBOUND_MAX_BYTES): a device
that falls that far behind gets `SlowConsumer` and resumes by cursor."""

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress

from switchboard_protocol import ActiveRun

from .lines import Frame

Position = tuple[int, int]
"""(stream offset of the batch, index of the event in it), ordered as the stream is."""
LAST_INDEX = 1 << 31
"""An index after every event of a batch: (offset, LAST_INDEX) is "after all of offset"."""


class SlowConsumer(Exception):
    """The device's live buffer passed OUTBOUND_MAX_BYTES."""


class Subscription:
    """Take frames with `frames()`; `close()` when done (it leaves the fan-out). Slotted, and
    its live buffer made on the first event: a gateway holds thousands of idle devices."""

    __slots__ = (
        "_bytes",
        "_floor",
        "_leave",
        "_live",
        "_max_bytes",
        "_replay",
        "_waiter",
        "active_run",
        "closed",
        "invalid_cursor",
        "overflowed",
        "recovered",
        "replayed",
        "session_id",
        "start",
    )

    def __init__(
        self, session_id: str, max_bytes: int, leave: Callable[["Subscription"], None]
    ) -> None:
        self.session_id = session_id
        self.recovered = False
        """The cursor's events were all there: what follows is everything after it."""
        self.invalid_cursor = False
        """A cursor was sent that does not parse (the hello says recovered false)."""
        self.active_run: ActiveRun | None = None
        """The catch-up state, when the subscription did not start from a cursor."""
        self.start = "catch_up"
        """How it started (join.py): "cursor", "catch_up" (asked), "idle" (the device check's
        `idle_at`)."""
        self.replayed = 0
        self._max_bytes = max_bytes
        self._leave = leave
        self._live: deque[tuple[Position, Frame]] | None = None
        self._bytes = 0
        self._floor: Position | None = None
        self._replay: Iterator[list[Frame]] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.closed = False

    def push(self, position: Position, frame: Frame) -> None:
        """A live event of the session (called by the fan-out, in stream order)."""
        if self.overflowed or (self._floor is not None and position <= self._floor):
            return
        if self._live is None:
            self._live = deque()
        self._live.append((position, frame))
        self._bytes += len(frame.text)
        if self._bytes > self._max_bytes:
            self.overflowed = True
            self._live = None
            self._bytes = 0
        self.wake()

    def begin(self, floor: Position, replay: Iterator[list[Frame]] | None) -> None:
        """From now on only events after `floor` go live; `replay` comes first."""
        self._floor, self._replay = floor, replay
        if self._live:
            kept = [(p, f) for p, f in self._live if p > floor]
            self._live = deque(kept)
            self._bytes = sum(len(f.text) for _, f in kept)

    def wake(self) -> None:
        """Make a waiting `frames()` return (with nothing, when nothing came)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def frames(self, timeout: float | None = None) -> list[Frame]:
        """The next frames, oldest first: replayed ones first, then live ones; an empty list
        when woken or after `timeout` seconds without any. Raises SlowConsumer."""
        if self.overflowed:
            raise SlowConsumer
        if self._replay is not None:
            chunk = next(self._replay, None)
            if chunk is not None:
                self.replayed += len(chunk)
                return chunk
            self._replay = None
        if not self._live:
            await self._wait(timeout)
        if self.overflowed:
            raise SlowConsumer
        live, self._live = self._live, None
        self._bytes = 0
        return [frame for _, frame in live] if live else []

    async def _wait(self, timeout: float | None) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            with suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._waiter
        finally:
            self._waiter = None

    async def close(self) -> None:
        """Leave the fan-out (and drop what is left of the replay)."""
        if self.closed:
            return
        self.closed = True
        self._leave(self)
        self._replay = None
        self.wake()
