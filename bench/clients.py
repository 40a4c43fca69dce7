"""Client processes: each opens a share of the devices and reports what they received.

The parent talks to each child over a pipe: the child answers `ready` once its devices are
connected, then waits for `finish` (what each session's run should have delivered and how long
to wait for it), closes its sockets and answers with a `ClientReport`.
"""

import asyncio
import contextlib
import multiprocessing
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .device import DeviceSpec, Tally, open_device, read_events
from .histogram import Histogram

HANDSHAKES_IN_FLIGHT = 64


@dataclass
class ClientReport:
    connected: int = 0
    failed: int = 0
    retried: int = 0
    """Devices whose first connect failed (the second try is counted in connected/failed)."""
    errors: list[str] = field(default_factory=list)
    connect_s: float = 0.0
    latency: Histogram = field(default_factory=Histogram)
    events: int = 0
    unique: int = 0
    duplicates: int = 0
    missing: int = 0
    holes: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    closes: dict[str, int] = field(default_factory=dict)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ClientProcess:
    """A child process holding `specs` as live devices, reporting round by round."""

    def __init__(self, specs: list[DeviceSpec]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_main, args=(specs, child), daemon=True)

    def start(self) -> "ClientProcess":
        self.process.start()
        return self

    async def ready(self, timeout: float) -> ClientReport:
        report: ClientReport = await self._recv(timeout)
        return report

    async def finish(self, expected: dict[str, tuple[str, int]], wait_s: float) -> ClientReport:
        """Tell the child each session's (run_id, token count); its report when done."""
        self._conn.send(("finish", expected, wait_s))
        report: ClientReport = await self._recv(wait_s + 30)
        return report

    async def _recv(self, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._conn.poll, timeout):
            raise TimeoutError(f"client process {self.process.pid} did not answer in {timeout}s")
        return self._conn.recv()

    async def close(self, timeout: float = 30) -> ClientReport:
        """Close every socket; the report holds the close codes seen over the whole run."""
        self._conn.send(None)
        report: ClientReport = await self._recv(timeout)
        return report

    def stop(self) -> None:
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(10)


def _child_main(specs: list[DeviceSpec], conn: Connection) -> None:
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(specs, conn))


async def _serve(specs: list[DeviceSpec], conn: Connection) -> None:
    tally, report = Tally(), ClientReport()
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
    started = time.perf_counter()
    results = await asyncio.gather(*(_open(s, gate) for s in specs), return_exceptions=True)
    report.connect_s = time.perf_counter() - started
    results = await _retry_failed(specs, list(results), report)
    readers = []
    for spec, result in zip(specs, results, strict=True):
        if isinstance(result, BaseException):
            report.failed += 1
            if len(report.errors) < 5:
                report.errors.append(f"{spec.key}: {result!r}")
            continue
        ws, window = result
        report.connected += 1
        readers.append((ws, asyncio.create_task(read_events(ws, spec, window, tally))))
    conn.send(report)
    loop = asyncio.get_running_loop()
    while (order := await loop.run_in_executor(None, conn.recv)) is not None:
        _, expected, wait_s = order
        await _await_tokens(tally, specs, expected, wait_s)
        conn.send(_report(ClientReport(connected=report.connected), tally, specs, expected))
        tally.reset()
    for ws, task in readers:
        await ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
    conn.send(ClientReport(closes=tally.closes))


async def _await_tokens(
    tally: Tally, specs: list[DeviceSpec], expected: dict[str, tuple[str, int]], wait_s: float
) -> None:
    want = sum(count for sid, (_, count) in expected.items() for s in specs if s.session_id == sid)
    deadline = time.monotonic() + wait_s
    while _tokens(tally) < want and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def _retry_failed(
    specs: list[DeviceSpec], results: list[Any], report: ClientReport
) -> list[Any]:
    """One more try, one at a time, for devices whose first connect failed (counted)."""
    for i, result in enumerate(results):
        if isinstance(result, BaseException):
            report.retried += 1
            if len(report.errors) < 5:
                report.errors.append(f"{specs[i].key} (first try): {result!r}")
            try:
                results[i] = await open_device(specs[i])
            except Exception as exc:
                results[i] = exc
    return results


async def _open(spec: DeviceSpec, gate: asyncio.Semaphore) -> Any:
    async with gate:
        return await open_device(spec)


def _unique(tally: Tally) -> int:
    return sum(len(seen) for seen in tally.seqs.values())


def _tokens(tally: Tally) -> int:
    return sum(tally.tokens.values())


def _report(
    report: ClientReport,
    tally: Tally,
    specs: list[DeviceSpec],
    expected: dict[str, tuple[str, int]],
) -> ClientReport:
    report.latency, report.events, report.duplicates = tally.latency, tally.events, tally.duplicates
    report.unique = _unique(tally)
    report.first_at, report.last_at, report.closes = tally.first_at, tally.last_at, tally.closes
    for spec in specs:
        if spec.session_id not in expected:
            continue
        run_id, count = expected[spec.session_id]
        seen = tally.seqs.get((spec.key, run_id), set())
        report.missing += max(0, count - tally.tokens.get((spec.key, run_id), 0))
        if seen and max(seen) > len(seen):
            report.holes += 1
    return report
