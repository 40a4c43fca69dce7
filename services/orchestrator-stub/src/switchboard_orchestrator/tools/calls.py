"""The tool calls one tool worker is running: per user (capped) and by call id (cancellable).

A cancel for a call not started yet (still queued, or on its way) is remembered for
`memory_s`, bounded to `MAX_REMEMBERED` ids, so the call is refused when it arrives.
"""

import asyncio
import time
from collections import Counter, OrderedDict
from typing import Any

MAX_REMEMBERED = 10_000


class CallLimitReached(Exception):
    """The user already has as many calls in flight as allowed."""


class RunningCalls:
    def __init__(self, max_per_user: int, memory_s: float = 120.0) -> None:
        self.max_per_user = max_per_user
        self._memory_s = memory_s
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._per_user: Counter[str] = Counter()
        self._early: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    def in_flight(self, user_id: str) -> int:
        return self._per_user[user_id]

    def admit(self, user_id: str) -> None:
        """Count one more call of `user_id`; CallLimitReached when at the cap."""
        if self._per_user[user_id] >= self.max_per_user:
            raise CallLimitReached(user_id)
        self._per_user[user_id] += 1

    def track(self, call_id: str, task: asyncio.Future[Any]) -> bool:
        """Register the running `task`; False (and nothing tracked) if already cancelled."""
        if self._early.pop(call_id, None) is not None:
            return False
        if call_id:
            self._tasks[call_id] = task
        return True

    def release(self, user_id: str, call_id: str) -> None:
        self._tasks.pop(call_id, None)
        self._per_user[user_id] -= 1
        if self._per_user[user_id] <= 0:
            del self._per_user[user_id]

    def cancel(self, call_id: str) -> bool:
        """Cancel the call's task (True), or remember the id for when it arrives (False)."""
        task = self._tasks.get(call_id)
        if task is not None:
            task.cancel()
            return True
        now = time.monotonic()
        while self._early and (
            len(self._early) >= MAX_REMEMBERED or next(iter(self._early.values())) < now
        ):
            self._early.popitem(last=False)
        self._early[call_id] = now + self._memory_s
        return False
