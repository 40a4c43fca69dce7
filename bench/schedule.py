"""Open-loop load: every stream emits at its fixed rate whatever the consumers do.

Stream i's k-th event (k = 1, 2, ...) is due at `t0 + (k - 1) / rate + i / (streams * rate)`
(wall clock); the emit callback gets that scheduled time so latency includes any backlog.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

Emit = Callable[[int, int, float], Awaitable[None]]


async def open_loop(streams: int, rate: float, duration_s: float, emit: Emit) -> int:
    """Emit `rate * duration_s` events on each of `streams` streams; returns the total."""
    per_stream = max(1, int(rate * duration_s))
    wall0 = time.time() + 0.05
    sent = [0] * streams
    while True:
        now = time.time()
        pending = False
        for i in range(streams):
            offset = wall0 + i / (streams * rate)
            due = min(per_stream, int((now - offset) * rate) + 1 if now >= offset else 0)
            while sent[i] < due:
                sent[i] += 1
                await emit(i, sent[i], offset + (sent[i] - 1) / rate)
            pending = pending or sent[i] < per_stream
        if not pending:
            return per_stream * streams
        await asyncio.sleep(min(0.002, 1 / rate))
