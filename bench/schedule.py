"""Open-loop load: every stream emits at its fixed rate whatever the consumers do.

Stream i's k-th event (k = 1, 2, ...) is due at `t0 + (k - 1) / rate + i / (streams * rate)`
(wall clock); the emit callback gets that scheduled time so latency includes any backlog.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

Emit = Callable[[int, int, float], Awaitable[None]]


async def open_loop(streams: int, rate: float, duration_s: float, emit: Emit) -> int:
    """Emit `rate * duration_s` events on each of `streams` streams; returns the total.

    Sleeps until the next event is due (never polls), so the schedule itself costs the
    publisher's process next to nothing."""
    per_stream = max(1, int(rate * duration_s))
    wall0 = time.time() + 0.05
    sent = [0] * streams
    offsets = [wall0 + i / (streams * rate) for i in range(streams)]
    while True:
        now = time.time()
        next_due = float("inf")
        for i in range(streams):
            offset = offsets[i]
            due = min(per_stream, int((now - offset) * rate) + 1 if now >= offset else 0)
            while sent[i] < due:
                sent[i] += 1
                await emit(i, sent[i], offset + (sent[i] - 1) / rate)
            if sent[i] < per_stream:
                next_due = min(next_due, offset + sent[i] / rate)
        if next_due == float("inf"):
            return per_stream * streams
        await asyncio.sleep(max(0.0, next_due - time.time()))
