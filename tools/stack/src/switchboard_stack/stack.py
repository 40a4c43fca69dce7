"""A whole stack on free ports for tests and the bench: session service, gateways, run workers
and (optionally) the tool worker, on a database and broker prefix the caller made for it."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from switchboard_events import BrokerSettings

from . import services
from .broker import broker_env
from .group import ProcessGroup, running
from .ports import free_port
from .process import ServiceProcess

HOST = "127.0.0.1"


@dataclass
class Stack:
    """The running stack: `url` is the (first) gateway's, `env` what every process got."""

    url: str
    session_url: str
    gateway_urls: list[str]
    env: dict[str, str]
    broker: BrokerSettings
    group: ProcessGroup

    @property
    def processes(self) -> dict[str, ServiceProcess]:
        return self.group.processes

    def named(self, prefix: str) -> list[ServiceProcess]:
        """The processes whose name starts with `prefix` (`gateway`, `worker`), in start order."""
        return [p for name, p in self.processes.items() if name.startswith(prefix)]

    def logs(self) -> str:
        return self.group.logs()


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str,
    broker: BrokerSettings,
    extra_env: dict[str, str] | None = None,
    *,
    gateways: int = 1,
    workers: int = 1,
    sessions: int = 1,
    tools: bool = True,
) -> AsyncIterator[Stack]:
    """Every service as its own process on free ports, all started at once and ready; stopped
    (SIGTERM, then SIGKILL) on exit. Processes are named `session`, `gateway`, `worker`,
    `tools`, and `gateway-2`, `worker-2`, `session-2`, ... for the extra replicas; gateway i
    talks to session service i % sessions."""
    session_ports = [free_port() for _ in range(sessions)]
    session_urls = [f"http://{HOST}:{port}" for port in session_ports]
    env = stack_env(database_url, broker, session_urls[0], extra_env)
    ports = [free_port() for _ in range(gateways)]
    stage = [
        services.session(HOST, port, env, _nth("session", i))
        for i, port in enumerate(session_ports)
    ]
    stage += [
        services.gateway(HOST, port, session_urls[i % sessions], env, _nth("gateway", i))
        for i, port in enumerate(ports)
    ]
    stage += [services.worker(env, _nth("worker", i)) for i in range(workers)]
    stage += [services.tools(env)] if tools else []
    async with running([stage]) as group:
        urls = [f"http://{HOST}:{port}" for port in ports]
        yield Stack(urls[0], session_urls[0], urls, env, broker, group)


def stack_env(
    database_url: str, broker: BrokerSettings, session_url: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """What every service of a stack is started with (dev mode, its broker prefix and database,
    where the session service listens), plus `extra`."""
    return {
        "SWITCHBOARD_ENV": "dev",
        **broker_env(broker),
        "DATABASE_URL": database_url,
        "SESSION_URL": session_url,
        **(extra or {}),
    }


def _nth(name: str, index: int) -> str:
    return name if index == 0 else f"{name}-{index + 1}"
