"""Cancelling runs: one `RunControl` per active run, and cancels remembered for a while.

A run checks its control before each event and waits through it (sleep, token pacing, tool
replies, model stream), so a cancel stops it within one token. Waits are raced against the
cancel; emits are never interrupted, so `seq` stays without holes.
"""

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


LEASE_LOST = "lease_lost"
"""The cancel reason of a run whose lease is gone: it stops and publishes nothing more."""


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


class RunCancelled(Exception):
    """The run was cancelled (a cancel message, or the worker shutting down)."""


class RunControl:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._sleepers: set[asyncio.Future[None]] = set()
        self.reason = ""

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()
            for sleeper in self._sleepers:
                _wake(sleeper)

    def check(self) -> None:
        if self._event.is_set():
            raise RunCancelled(self.reason)

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds` unless cancelled first (then RunCancelled). A future and a timer,
        not a task: runs pause between every two tokens."""
        self.check()
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)
        self.check()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless cancelled first (then it is cancelled; RunCancelled)."""
        self.check()
        task = asyncio.ensure_future(awaitable)
        waiter = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        if task.done() and not task.cancelled():
            return task.result()
        raise RunCancelled(self.reason)


class CancelRegistry:
    """Active runs' controls, plus run ids cancelled before they started (kept `memory_s`)."""

    def __init__(self, memory_s: float) -> None:
        self._memory_s = memory_s
        self._early: dict[str, float] = {}
        self._active: dict[str, RunControl] = {}

    def cancel(self, run_id: str, reason: str = "cancelled") -> None:
        control = self._active.get(run_id)
        if control is not None:
            control.cancel(reason)
            return
        self._forget_old()
        self._early[run_id] = time.monotonic() + self._memory_s

    def attach(self, run_id: str) -> RunControl:
        """The control of a starting run (already cancelled if a cancel came first)."""
        control = RunControl()
        if self._early.pop(run_id, None) is not None:
            control.cancel()
        self._active[run_id] = control
        return control

    def detach(self, run_id: str) -> None:
        self._active.pop(run_id, None)

    def cancel_all(self, reason: str) -> None:
        for control in self._active.values():
            control.cancel(reason)

    def _forget_old(self) -> None:
        now = time.monotonic()
        for run_id in [rid for rid, until in self._early.items() if until < now]:
            del self._early[run_id]
