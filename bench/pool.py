"""Several client processes as one: open devices, run rounds, merge their reports."""

import asyncio
import time

from .clients import ClientProcess, ClientReport
from .device import DeviceSpec


def merge(reports: list[ClientReport]) -> ClientReport:
    total = ClientReport()
    for r in reports:
        total.connected += r.connected
        total.failed += r.failed
        total.retried += r.retried
        total.errors.extend(r.errors[: 5 - len(total.errors)])
        total.connect_s = max(total.connect_s, r.connect_s)
        total.latency.merge(r.latency)
        total.events += r.events
        total.unique += r.unique
        total.duplicates += r.duplicates
        total.missing += r.missing
        total.holes += r.holes
        firsts = [x for x in (total.first_at, r.first_at) if x]
        total.first_at = min(firsts) if firsts else 0.0
        total.last_at = max(total.last_at, r.last_at)
        for code, n in r.closes.items():
            total.closes[code] = total.closes.get(code, 0) + n
    return total


class ClientPool:
    """`devices` spread round-robin over `procs` client processes."""

    def __init__(self, devices: list[DeviceSpec], procs: int) -> None:
        procs = max(1, min(procs, len(devices)))
        self.procs = [ClientProcess(devices[i::procs]) for i in range(procs)]
        self.connect_wall_s = 0.0

    async def open(self, timeout: float = 120) -> ClientReport:
        """Start the processes and wait until every device is connected (or failed)."""
        started = time.perf_counter()
        for proc in self.procs:
            proc.start()
        reports = await asyncio.gather(*(p.ready(timeout) for p in self.procs))
        self.connect_wall_s = time.perf_counter() - started
        return merge(list(reports))

    async def round(self, expected: dict[str, tuple[str, int]], wait_s: float) -> ClientReport:
        return merge(list(await asyncio.gather(*(p.finish(expected, wait_s) for p in self.procs))))

    async def close(self) -> ClientReport:
        try:
            return merge(list(await asyncio.gather(*(p.close() for p in self.procs))))
        finally:
            for proc in self.procs:
                proc.stop()

    def pids(self) -> list[int]:
        return [p.process.pid for p in self.procs if p.process.pid]
