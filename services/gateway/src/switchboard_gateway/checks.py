"""Device checks in batches: every WebSocket connect asks the session service whether its device
may come in, and in a reconnect storm thousands ask at once.

At most `slots` requests are out at a time. A connect that finds a slot free is sent at once (a
batch of one: no added wait); those that arrive while every slot is busy queue here, and the
next request to go takes all of them (up to MAX_BATCH). The session service answers a batch with
one request, one transaction and one query for its sessions, instead of one of each per device;
each device's answer is the one its own call would have got.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

MAX_BATCH = 128
"""Most devices one request asks about (the session service takes up to 256)."""


@dataclass(frozen=True)
class DeviceCheck:
    token: str
    session_id: str
    client_id: str


class CheckFailed(Exception):
    """The session service did not answer this batch."""


T = TypeVar("T")


def _future() -> "asyncio.Future[Any]":
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class _Waiting(Generic[T]):
    check: DeviceCheck
    answer: "asyncio.Future[T]" = field(default_factory=_future)


class CheckQueue(Generic[T]):
    """Device checks waiting for a slot; `send` asks about a batch and returns one answer per
    check, in order (a CheckFailed in place of a device's answer fails that device alone), or
    raises CheckFailed for the whole batch."""

    def __init__(
        self, send: Callable[[Sequence[DeviceCheck]], Awaitable[list[T | CheckFailed]]], slots: int
    ):
        self._send = send
        self._slots = slots
        self._busy = 0
        self._closed = False
        self._waiting: deque[_Waiting[T]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:
        """Checks queued for the next request (some may have given up)."""
        return len(self._waiting)

    async def check(self, check: DeviceCheck) -> T:
        """This device's answer; raises CheckFailed (or the caller's timeout) without one. A
        caller that gives up leaves no work behind: its check is skipped if not yet sent."""
        if self._closed:
            raise CheckFailed("the gateway is shutting down")
        waiting: _Waiting[T] = _Waiting(check)
        self._waiting.append(waiting)
        if self._busy < self._slots:
            self._busy += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.shield(waiting.answer)
        finally:
            waiting.answer.cancel()  # no-op once answered; skipped by a later batch otherwise

    async def aclose(self) -> None:
        """Stop: checks in flight and waiting fail (CheckFailed), later ones at once."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._waiting:
            _settle(self._waiting.popleft().answer, CheckFailed("the gateway is shutting down"))

    async def _drain(self) -> None:
        """Send batches until nobody waits."""
        try:
            while self._waiting:
                batch = self._take()
                if batch:
                    await self._answer(batch)
        finally:
            self._busy -= 1

    def _take(self) -> list[_Waiting[T]]:
        batch: list[_Waiting[T]] = []
        while self._waiting and len(batch) < MAX_BATCH:
            waiting = self._waiting.popleft()
            if not waiting.answer.done():
                batch.append(waiting)
        return batch

    async def _answer(self, batch: list[_Waiting[T]]) -> None:
        try:
            answers = await self._send([waiting.check for waiting in batch])
            if len(answers) != len(batch):
                raise CheckFailed(f"{len(answers)} answers to {len(batch)} device checks")
        except BaseException as exc:  # every waiting connect learns of it, cancelled or not
            if not isinstance(exc, CheckFailed | asyncio.CancelledError):
                log.error("device checks failed", exc_info=exc)
            for waiting in batch:
                _settle(waiting.answer, CheckFailed(str(exc) or type(exc).__name__))
            if not isinstance(exc, Exception):
                raise
            return
        for waiting, answer in zip(batch, answers, strict=True):
            if isinstance(answer, CheckFailed):
                _settle(waiting.answer, answer)
            elif not waiting.answer.done():
                waiting.answer.set_result(answer)


def _settle(answer: "asyncio.Future[Any]", exc: Exception) -> None:
    if not answer.done():
        answer.set_exception(exc)
        answer.exception()  # retrieved: the caller may have gone
