"""The raw stream path (aio-pika alone: per-shard batches onto the K streams, one reader of
them) at the stack's offered rates, and flat out, with its CPU."""

import time
from typing import Any

import psutil
from switchboard_events import BrokerSettings

from . import baseline
from .config import BenchSettings
from .usage import CpuMeter


async def raw_steps(
    bench: BenchSettings, offered: list[float], broker: psutil.Process | None
) -> list[dict[str, Any]]:
    """`sessions` sessions' events batched per shard onto the streams with confirms, read by
    one consumer process, at each offered total rate (events/s) and then flat out."""
    settings = BrokerSettings(AMQP_URL=bench.amqp_url, BROKER_PREFIX=f"benchraw{int(time.time())}.")
    sessions = bench.sessions
    await baseline.prepare(settings)
    consumer = await baseline.RawConsumer(settings).start()
    procs = {"publisher": [psutil.Process()], "consumer": [psutil.Process(consumer.process.pid)]}
    if broker is not None:
        procs["broker"] = [broker]
    meter = CpuMeter(procs)
    rows = []
    try:
        for total in [*offered, None]:
            rate = total / sessions if total else None
            meter.start()
            sent, _, messages = await baseline.publish(settings, sessions, rate, bench.duration_s)
            report = await consumer.finish(sent, 30)
            cpu = meter.stop()
            span = max(bench.duration_s if rate else 0.001, report.last_at - report.first_at)
            rows.append(
                {
                    "rate_per_session": rate,
                    "offered_per_s": total,
                    "sent": sent,
                    "delivered": report.count,
                    "delivered_per_s": round(report.count / span, 1),
                    "events_per_message": round(sent / messages, 1) if messages else None,
                    "latency_ms": report.latency.summary_ms(),
                    "cpu_us_per_event": {
                        name: round(seconds / report.count * 1e6, 1) if report.count else None
                        for name, seconds in cpu.items()
                    },
                }
            )
            print(f"raw step {total or 'max'}: {rows[-1]}", flush=True)
    finally:
        consumer.stop()
        await baseline.cleanup(settings)
    return rows
