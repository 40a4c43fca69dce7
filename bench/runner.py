"""One benchmark run: the gateway's load steps and scenarios, idle devices and a connect storm,
then the raw stream path (aio-pika alone) at the same offered rates."""

import time
from typing import Any

import psutil
from switchboard_events import Publisher

from .config import BenchSettings
from .device import DeviceSpec
from .idle import idle_memory
from .load import StepResult, direct_step, open_publisher, worker_step
from .pool import ClientPool
from .raw import raw_steps
from .stack import Stack, ps, running_stack
from .usage import CpuMeter, find_broker

STREAM_CLIENT_PROCS = 2


async def run(bench: BenchSettings) -> dict[str, Any]:
    started = time.time()
    workers = bench.workers if bench.mode == "worker" or bench.worker_step else 0
    broker = find_broker(bench.amqp_url)
    async with running_stack(bench, workers) as stack:
        connection, publisher = await open_publisher(stack)
        try:
            lab = Lab(bench, stack, publisher, broker)
            steps = await lab.rate_steps()
            scenarios = await lab.scenarios(steps)
        finally:
            await connection.close()
        # after the load steps: tearing 5 000 sockets down would disturb them
        idle, storm = await idle_memory(
            stack, bench.idle_devices, bench.client_procs, bench.storm, broker
        )
    offered = sorted(
        {s.offered_per_s for s in [*steps, *scenarios] if s.mode == "direct" and s.devices == 1}
    )
    raw = await raw_steps(bench, offered, broker) if bench.raw else []
    return {
        "settings": bench.model_dump(),
        "started_at": started,
        "elapsed_s": round(time.time() - started, 1),
        "machine": {
            "cpus": psutil.cpu_count(),
            "mem_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_avg_1m": round(psutil.getloadavg()[0], 2),
        },
        "idle": idle,
        "storm": storm,
        "steps": [s.as_dict() for s in steps],
        "scenarios": [s.as_dict() for s in scenarios],
        "raw": raw,
    }


class Lab:
    """The stack under test, the bench's publisher and the broker process: runs load steps."""

    def __init__(
        self,
        bench: BenchSettings,
        stack: Stack,
        publisher: Publisher,
        broker: psutil.Process | None,
    ) -> None:
        self.bench, self.stack, self.publisher, self.broker = bench, stack, publisher, broker

    async def rate_steps(self) -> list[StepResult]:
        """`sessions` sessions, one device each, at each rate until one loses or falls behind."""
        b = self.bench
        steps: list[StepResult] = []
        if not b.rates:
            return steps
        pool, sessions = await self._devices(b.sessions, 1)
        try:
            for rate in b.rates:
                steps.append(await self._step(pool, sessions, rate, b.mode, "rate", 1))
                if not steps[-1].keeps_up():
                    break  # beyond here the gateway only falls further behind
        finally:
            await pool.close()
        return steps

    async def scenarios(self, steps: list[StepResult]) -> list[StepResult]:
        """Sessions scaled up at `scale_rate`; several devices per session; many slow sessions;
        the real run workers."""
        b = self.bench
        done: list[StepResult] = []
        # Scale up while the last step kept up (nothing lost, >= 90 % delivered): past the p99
        # limit only on a loaded machine, which still shows how CPU per event goes.
        at_rate = [s for s in steps if s.rate_per_session == b.scale_rate and s.mode == "direct"]
        if all(s.keeps_up() for s in at_rate):
            for count in b.scale_sessions:
                done.append(await self.once(count, 1, b.scale_rate, "direct", "scale"))
                if not done[-1].ok(b.p99_limit_ms) and not done[-1].keeps_up():
                    break
        if b.fanout_devices > 1:
            done.append(
                await self.once(b.sessions, b.fanout_devices, b.scale_rate, "direct", "fanout")
            )
        if b.many_sessions:
            done.append(await self.once(b.many_sessions, 1, b.many_rate, "direct", "many"))
        for linger in b.linger_ms:
            done.append(await self.lingering(linger))
        if b.worker_step and self.stack.workers:
            done.append(await self.once(b.sessions, 1, b.scale_rate, "worker", "worker"))
        return done

    async def lingering(self, linger_ms: float) -> StepResult:
        """`sessions` x `scale_rate` with the publisher lingering `linger_ms` (opt-in dial)."""
        connection, publisher = await open_publisher(self.stack, linger_ms)
        default, self.publisher = self.publisher, publisher
        try:
            step = await self.once(
                self.bench.sessions, 1, self.bench.scale_rate, "direct", "linger"
            )
        finally:
            self.publisher = default
            await connection.close()
        step.linger_ms = linger_ms
        return step

    async def once(
        self, sessions: int, devices: int, rate: float, mode: str, label: str
    ) -> StepResult:
        """One step on new sessions; a failed step (setup or run) is reported as lost."""
        try:
            pool, ids = await self._devices(sessions, devices)
        except Exception as exc:  # one scenario failing must not lose the run
            return _failed(label, mode, sessions, devices, rate, exc)
        try:
            return await self._step(pool, ids, rate, mode, label, devices)
        except Exception as exc:
            return _failed(label, mode, sessions, devices, rate, exc)
        finally:
            await pool.close()

    async def _devices(self, count: int, per_session: int) -> tuple[ClientPool, list[str]]:
        """`count` new sessions with `per_session` devices each, connected and reading."""
        sessions = await self.stack.create_sessions(count, client_id="b0", own_users=True)
        specs = [
            DeviceSpec(self.stack.ws_base(i), s, f"b{d}", self.stack.token_of(s))
            for i, s in enumerate(sessions)
            for d in range(per_session)
        ]
        pool = ClientPool(specs, STREAM_CLIENT_PROCS)
        opened = await pool.open(timeout=300)
        if opened.retried:
            print(f"streaming devices: {opened.retried} first connects failed: {opened.errors}")
        if opened.failed:
            await pool.close()
            raise RuntimeError(f"{opened.failed} streaming devices failed: {opened.errors}")
        return pool, sessions

    async def _step(
        self,
        pool: ClientPool,
        sessions: list[str],
        rate: float,
        mode: str,
        label: str,
        devices: int,
    ) -> StepResult:
        meter = self._meter(pool)
        duration = self.bench.duration_s
        if mode == "direct":
            step = await direct_step(self.publisher, sessions, pool, rate, duration, meter)
        else:
            step = await worker_step(self.stack, sessions, pool, rate, duration, meter)
        step.scenario, step.mode, step.sessions, step.devices = label, mode, len(sessions), devices
        step.offered_per_s = rate * len(sessions) * devices
        print(f"{label} {mode} {len(sessions)}x{devices} at {rate:g}/s: {_line(step)}", flush=True)
        return step

    def _meter(self, pool: ClientPool) -> CpuMeter:
        procs: dict[str, list[psutil.Process]] = {
            "gateway": [ps(g) for g in self.stack.gateways],
            "session": [ps(self.stack.session)],
            "publisher": [psutil.Process()],
            "clients": [psutil.Process(pid) for pid in pool.pids()],
        }
        if self.stack.workers:
            procs["worker"] = [ps(w) for w in self.stack.workers]
        if self.broker is not None:
            procs["broker"] = [self.broker]
        return CpuMeter(procs)


def _failed(
    label: str, mode: str, sessions: int, devices: int, rate: float, exc: Exception
) -> StepResult:
    print(f"{label} {mode} {sessions}x{devices} at {rate:g}/s failed: {exc!r}", flush=True)
    offered = rate * sessions * devices
    nothing = {k: 0.0 for k in ("p50", "p90", "p99", "p99.9", "max")}
    return StepResult(
        rate, offered, 0, 0, 0.0, -1, 0, 0, nothing, {}, label, mode, sessions, devices
    )


def best_step(steps: list[StepResult], p99_limit_ms: float) -> StepResult | None:
    good = [s for s in steps if s.ok(p99_limit_ms)]
    return max(good, key=lambda s: s.delivered_per_s) if good else None


def _line(step: StepResult) -> str:
    cpu = step.as_dict()["cpu_us_per_event"]
    return (
        f"delivered {step.delivered_per_s:.0f}/s of {step.offered_per_s:.0f}/s, "
        f"p99 {step.latency_ms['p99']} ms, missing {step.missing}, holes {step.holes}, "
        f"CPU us/event {cpu}"
    )
