"""One benchmark run: idle devices, the gateway's load steps, then the raw broker baseline."""

import time
from typing import Any

import psutil
from switchboard_events import BrokerSettings

from . import baseline
from .config import BenchSettings
from .device import DeviceSpec
from .idle import idle_memory
from .load import StepResult, direct_step, open_publisher, worker_step
from .pool import ClientPool
from .stack import Stack, ps, running_stack
from .usage import CpuMeter, find_broker

STREAM_CLIENT_PROCS = 2


async def run(bench: BenchSettings) -> dict[str, Any]:
    started = time.time()
    workers = bench.workers if bench.mode == "worker" else 0
    async with running_stack(bench, workers) as stack:
        steps, half = await gateway_steps(bench, stack)
        # after the load steps: tearing 5 000 sockets down would disturb them
        idle = await idle_memory(stack, bench.idle_devices, bench.client_procs)
    raw = await raw_steps(bench, [s.rate_per_session for s in steps])
    return {
        "settings": bench.model_dump(),
        "started_at": started,
        "elapsed_s": round(time.time() - started, 1),
        "machine": {
            "cpus": psutil.cpu_count(),
            "mem_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "idle": idle,
        "steps": [s.as_dict() for s in steps],
        "half_rate": half.as_dict() if half else None,
        "raw": raw,
    }


def meter_for(stack: Stack, pool: ClientPool) -> CpuMeter:
    procs: dict[str, list[psutil.Process]] = {
        "gateway": [ps(g) for g in stack.gateways],
        "session": [ps(stack.session)],
        "bench_publisher": [psutil.Process()],
        "clients": [psutil.Process(pid) for pid in pool.pids()],
    }
    if stack.workers:
        procs["worker"] = [ps(w) for w in stack.workers]
    if broker := find_broker():
        procs["broker"] = [broker]
    return CpuMeter(procs)


async def gateway_steps(
    bench: BenchSettings, stack: Stack
) -> tuple[list[StepResult], StepResult | None]:
    """Step the offered rate up until a step loses events or falls behind the offered rate.

    The max rate is the best step that also kept p99 under the limit; the steps past it
    (latency over the limit, nothing lost) show where the throughput curve bends.
    """
    sessions = await stack.create_sessions(bench.sessions)
    specs = [DeviceSpec(stack.ws_base(i), s, "b", stack.token) for i, s in enumerate(sessions)]
    pool = ClientPool(specs, STREAM_CLIENT_PROCS)
    connection, publisher = await open_publisher(stack)
    try:
        opened = await pool.open()
        if opened.retried:
            print(f"streaming devices: {opened.retried} first connects failed: {opened.errors}")
        if opened.failed:
            raise RuntimeError(f"{opened.failed} streaming devices failed: {opened.errors}")
        meter = meter_for(stack, pool)

        async def step(rate: float) -> StepResult:
            if bench.mode == "direct":
                return await direct_step(publisher, sessions, pool, rate, bench.duration_s, meter)
            return await worker_step(stack, sessions, pool, rate, bench.duration_s, meter)

        steps: list[StepResult] = []
        for rate in bench.rates:
            steps.append(await step(rate))
            print(f"gateway step {rate:g}/s x {len(sessions)}: {_line(steps[-1])}", flush=True)
            if not steps[-1].keeps_up():
                break  # beyond here the gateway only falls further behind
        best = best_step(steps, bench.p99_limit_ms)
        half = await step(best.rate_per_session / 2) if best else None
        if half:
            print(f"gateway at half of max: {_line(half)}", flush=True)
        return steps, half
    finally:
        await pool.close()
        await connection.close()


def best_step(steps: list[StepResult], p99_limit_ms: float) -> StepResult | None:
    good = [s for s in steps if s.ok(p99_limit_ms)]
    return max(good, key=lambda s: s.delivered_per_s) if good else None


async def raw_steps(bench: BenchSettings, rates: list[float]) -> list[dict[str, Any]]:
    """aio-pika alone, one message per event with confirms, at the same rates and flat out."""
    settings = BrokerSettings(
        AMQP_URL=bench.amqp_url,
        BROKER_PREFIX=f"benchraw{int(time.time())}.",
        DEVICE_BUFFER_TTL_S=60,
    )
    await baseline.prepare(settings, bench.sessions)
    consumer = await baseline.RawConsumer(settings, bench.sessions).start()
    rows = []
    try:
        for rate in [*rates, None]:
            sent, _ = await baseline.publish(settings, bench.sessions, rate, bench.duration_s)
            report = await consumer.finish(sent, 30)
            span = max(bench.duration_s if rate else 0.001, report.last_at - report.first_at)
            rows.append(
                {
                    "rate_per_session": rate,
                    "offered_per_s": rate * bench.sessions if rate else None,
                    "sent": sent,
                    "delivered": report.count,
                    "delivered_per_s": round(report.count / span, 1),
                    "latency_ms": report.latency.summary_ms(),
                }
            )
            print(f"raw step {rate or 'max'}: {rows[-1]}", flush=True)
    finally:
        consumer.stop()
        await baseline.cleanup(settings, bench.sessions)
    return rows


def _line(step: StepResult) -> str:
    return (
        f"delivered {step.delivered_per_s:.0f}/s of {step.offered_per_s:.0f}/s, "
        f"p99 {step.latency_ms['p99']} ms, missing {step.missing}, holes {step.holes}"
    )
