"""Typing indicators, coalesced per device: a `typing` frame fans out to every other device of
the session, so one device sending 19 a second (within the frame limit) made hundreds of
deliveries a second. At most one `typing` event per device goes out per TYPING_INTERVAL_S: the
first at once, and those that come within the interval as one when it ends, so the last one
sent is never dropped, only delayed."""

import asyncio
from collections.abc import Callable


class TypingGate:
    """One device's typing events (a timer, not a task: most devices never type)."""

    __slots__ = ("_held", "_interval", "_last", "_timer")

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._last = float("-inf")
        self._held: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def offer(self, publish: Callable[[], None]) -> None:
        """`publish` now, or when the interval since the last one ends (the latest wins)."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._held = publish
            return
        due = self._last + self._interval
        if loop.time() >= due:
            self._last = loop.time()
            publish()
            return
        self._held = publish
        self._timer = loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        held, self._held = self._held, None
        if held is not None:
            self._last = asyncio.get_running_loop().time()
            held()

    def cancel(self) -> None:
        """The connection is over: a held event goes nowhere."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held = None
