"""Load steps against the gateway: direct publisher (RunStream) or run workers (`/tokens`)."""

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
from switchboard_events import Publisher, RunStream, names_from

from .clients import ClientReport
from .pool import ClientPool
from .schedule import open_loop
from .stack import Stack
from .usage import CpuMeter

DRAIN_S = 10.0


@dataclass
class StepResult:
    """One load step: what was offered, what arrived, how late, and what it cost."""

    rate_per_session: float
    offered_per_s: float
    sent: int
    delivered: int
    delivered_per_s: float
    missing: int
    holes: int
    duplicates: int
    latency_ms: dict[str, float]
    cpu_s: dict[str, float]
    scenario: str = "rate"
    mode: str = "direct"
    sessions: int = 0
    devices: int = 1
    """Devices per session."""
    linger_ms: float = 0.0
    """The bench publisher's COALESCE_WINDOW_MS."""
    messages: int = 0
    """AMQP messages the bench publisher sent (direct mode)."""
    started_at: float = 0.0
    ended_at: float = 0.0
    """Wall clock (epoch s) of the step's first publish and last receipt (`bench.stalls`)."""

    def ok(self, p99_limit_ms: float) -> bool:
        return self.missing == 0 and self.holes == 0 and self.latency_ms["p99"] < p99_limit_ms

    def keeps_up(self) -> bool:
        """Nothing lost and at least 90 % of the offered rate delivered."""
        return (
            self.missing == 0
            and self.holes == 0
            and self.delivered_per_s >= 0.9 * self.offered_per_s
        )

    def as_dict(self) -> dict[str, Any]:
        cpu_per_event = {
            name: round(seconds / self.delivered * 1e6, 1) if self.delivered else None
            for name, seconds in self.cpu_s.items()
        }
        return {**self.__dict__, "cpu_us_per_event": cpu_per_event}


def result(
    rate: float,
    streams: int,
    sent: int,
    report: ClientReport,
    t0: float,
    duration: float,
    cpu: dict[str, float],
) -> StepResult:
    span = max(duration, (report.last_at or t0) - t0)
    delivered = report.unique
    return StepResult(
        rate_per_session=rate,
        offered_per_s=rate * streams,
        sent=sent,
        delivered=delivered,
        delivered_per_s=round(delivered / span, 1),
        missing=report.missing,
        holes=report.holes,
        duplicates=report.duplicates,
        latency_ms=report.latency.summary_ms(),
        cpu_s=cpu,
        started_at=t0,
        ended_at=report.last_at or t0 + duration,
    )


async def direct_step(
    publisher: Publisher,
    sessions: list[str],
    pool: ClientPool,
    rate: float,
    duration: float,
    meter: CpuMeter,
) -> StepResult:
    """Publish tokens with RunStream on a fixed schedule, not waiting on the consumers."""
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    streams = [RunStream(publisher, session_id=s, run_id=run_id) for s in sessions]

    async def emit(i: int, seq: int, scheduled: float) -> None:
        await streams[i].emit("token", {"token": f"t{seq} "}, metadata={"t": scheduled})

    meter.start()
    t0, messages = time.time(), publisher.messages_sent
    sent = await open_loop(len(sessions), rate, duration, emit)
    await asyncio.gather(*(s.drain() for s in streams))
    per_session = sent // len(sessions)
    report = await pool.round({s: (run_id, per_session) for s in sessions}, DRAIN_S)
    step = result(rate, len(sessions), sent, report, t0, duration, meter.stop())
    step.messages = publisher.messages_sent - messages
    return step


async def worker_step(
    stack: Stack,
    sessions: list[str],
    pool: ClientPool,
    rate: float,
    duration: float,
    meter: CpuMeter,
) -> StepResult:
    """Ask each session's run worker for `/tokens N rate=R` (N = rate x duration)."""
    count = max(1, int(rate * duration))
    meter.start()
    t0 = time.time()
    # a loaded machine answers 50 messages at once slowly: the bench waits, it measures no REST
    async with httpx.AsyncClient(base_url=stack.session_url, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/ai/sessions/{s}/message",
                    json={"content": f"/tokens {count} rate={rate:g}", "on_busy": "enqueue"},
                    headers={"Authorization": f"Bearer {stack.token_of(s)}"},
                )
                for s in sessions
            )
        )
    runs = {}
    for session_id, answer in zip(sessions, answers, strict=True):
        answer.raise_for_status()
        runs[session_id] = (str(answer.json()["run_id"]), count)
    report = await pool.round(runs, duration + DRAIN_S)
    return result(rate, len(sessions), count * len(sessions), report, t0, duration, meter.stop())


async def open_publisher(
    stack: Stack, linger_ms: float = 0.0
) -> tuple[aio_pika.abc.AbstractConnection, Publisher]:
    """The bench's RunStream publisher, with the stack's broker settings (COALESCE_WINDOW_MS
    `linger_ms` for the linger steps, the shipped 0 otherwise)."""
    settings = stack.broker.model_copy(update={"coalesce_window_ms": linger_ms})
    connection = await aio_pika.connect(stack.broker.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    return connection, await Publisher(channel, names_from(settings), settings).start()
