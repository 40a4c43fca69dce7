"""Start services in stages (each stage ready before the next starts) and stop them all."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .process import ServiceProcess
from .services import Service

COLORS = ("36", "35", "33", "32", "34", "31")


class StartFailed(RuntimeError):
    """A service never became ready (health timeout, exit, or a failed one-shot step)."""


class ProcessGroup:
    """The processes of a stack by name, started stage by stage.

    `echo`: copy their output to ours behind `[name]` (in colour when `color`).
    """

    def __init__(self, *, echo: bool = False, color: bool = False, health_timeout_s: float = 60.0):
        self.processes: dict[str, ServiceProcess] = {}
        self.services: dict[str, Service] = {}
        self.echo = echo
        self.color = color
        self.health_timeout_s = health_timeout_s

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def _prefix(self, name: str) -> str | None:
        if not self.echo:
            return None
        if not self.color:
            return f"[{name}] "
        color = COLORS[len(self.processes) % len(COLORS)]
        return f"\x1b[{color}m[{name}]\x1b[0m "

    def add(self, service: Service) -> ServiceProcess:
        process = service.process(self._prefix(service.name))
        self.processes[service.name] = process
        self.services[service.name] = service
        return process.start()

    async def start(self, stage: list[Service]) -> None:
        """Start every service of `stage`, then wait until each is ready."""
        for service in stage:
            self.add(service)
        await asyncio.gather(*(self.ready(service.name) for service in stage))

    async def ready(self, name: str) -> None:
        service, process = self.services[name], self.processes[name]
        timeout = self.health_timeout_s
        try:
            if service.oneshot:
                if code := await process.wait():
                    raise StartFailed(f"{name} failed with status {code}")
            elif service.health_url:
                await process.wait_http(service.health_url, timeout)
                if self.echo:
                    print(f"devstack: {name} healthy at {service.health_url}", flush=True)
            elif service.ready_line:
                await process.wait_output(service.ready_line, timeout)
        except StartFailed:
            raise
        except (RuntimeError, TimeoutError) as exc:  # it exited, or time ran out
            raise StartFailed(str(exc)) from None

    async def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM to each (the last started first), SIGKILL after `timeout`; all at once."""
        await asyncio.gather(*(p.aclose(timeout) for p in reversed(self.processes.values())))

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {name}\n{p.output()[-tail:]}" for name, p in self.processes.items())


@contextlib.asynccontextmanager
async def running(
    stages: list[list[Service]], *, health_timeout_s: float = 60.0, stop_timeout_s: float = 10.0
) -> AsyncIterator[ProcessGroup]:
    """The services of `stages` started and ready; every one stopped on exit."""
    group = ProcessGroup(health_timeout_s=health_timeout_s)
    try:
        for stage in stages:
            await group.start(stage)
        yield group
    finally:
        await group.stop_all(stop_timeout_s)
