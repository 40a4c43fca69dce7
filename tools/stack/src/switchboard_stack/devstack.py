"""`make run`: the whole stack on one machine, as child processes of this one.

Checks that RabbitMQ and Postgres answer (and says how to start them when not), creates the
database if missing, migrates it, starts the session service, then the gateway, run worker and
tool worker (with the example MCP server) from this interpreter's bin directory with
`SWITCHBOARD_ENV=dev`, prefixes their logs, waits for health and prints the demo page's URL.
SIGINT/SIGTERM stop everything; a child that dies stops the rest and the exit status is non-zero.
"""

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import services
from .broker import check_rabbitmq
from .group import ProcessGroup, StartFailed
from .postgres import ensure_database
from .services import Service, missing_scripts

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/switchboard"


class DevstackSettings(BaseSettings):
    """Where the broker and database are, and where the stack listens."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", alias="AMQP_URL")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    host: str = Field(default="127.0.0.1", alias="DEVSTACK_HOST")
    gateway_port: int = Field(default=8000, ge=1, le=65535, alias="GATEWAY_PORT")
    session_port: int = Field(default=8001, ge=1, le=65535, alias="SESSION_PORT")
    health_timeout_s: float = Field(default=60.0, gt=0, alias="DEVSTACK_HEALTH_TIMEOUT_S")
    """How long a service may take to answer its health check."""
    stop_timeout_s: float = Field(default=10.0, gt=0, alias="DEVSTACK_STOP_TIMEOUT_S")
    """How long a service may take to exit after SIGTERM before it is killed."""


def plan(settings: DevstackSettings) -> list[list[Service]]:
    """Start order in stages: migrations, the session service, then what depends on it."""
    host = settings.host
    env = {"SWITCHBOARD_ENV": os.environ.get("SWITCHBOARD_ENV", "dev"), "PYTHONUNBUFFERED": "1"}
    env |= {"AMQP_URL": settings.amqp_url}
    database = env | {"DATABASE_URL": settings.database_url}
    session_url = f"http://{host}:{settings.session_port}"
    return [
        [services.migrate(database)],
        [services.session(host, settings.session_port, database)],
        [
            services.gateway(host, settings.gateway_port, session_url, env),
            services.worker(env),
            services.tools(env | services.example_mcp_servers()),
        ],
    ]


def emit(text: str) -> None:
    sys.stdout.write(f"devstack: {text}\n")
    sys.stdout.flush()


class Supervisor:
    """Starts stages in order, watches the children, and stops them all on the way out."""

    def __init__(
        self, stages: list[list[Service]], stop: asyncio.Event, settings: DevstackSettings
    ) -> None:
        self.stages = stages
        self.stop = stop
        self.settings = settings
        self.group = ProcessGroup(
            echo=True, color=sys.stdout.isatty(), health_timeout_s=settings.health_timeout_s
        )

    async def run(self, ready_message: str = "") -> int:
        """0 after a requested stop, 1 when a child died or never became healthy."""
        try:
            for stage in self.stages:
                if (outcome := await self._race(self.group.start(stage))) != "ready":
                    return self._verdict(outcome)
            if ready_message:
                emit(ready_message)
            return self._verdict(await self._race(None))
        except StartFailed as exc:
            emit(str(exc))
            return 1
        finally:
            await self.group.stop_all(self.settings.stop_timeout_s)
            if self.group.processes:
                emit("all services stopped")

    async def _race(self, work: Awaitable[None] | None) -> str:
        """'stop', 'died:<name>' or 'ready' (when `work` finished first)."""
        tasks: dict[asyncio.Future[object], str] = {asyncio.ensure_future(self.stop.wait()): "stop"}
        for name, process in self.group.processes.items():
            if not self.group.services[name].oneshot:
                tasks[asyncio.ensure_future(process.wait())] = f"died:{name}"
        if work is not None:
            tasks[asyncio.ensure_future(work)] = "ready"
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        finished = {tasks[t]: t for t in done}
        if "stop" in finished:
            return "stop"
        if died := [label for label in finished if label.startswith("died:")]:
            return died[0]
        finished["ready"].result()  # re-raises StartFailed
        return "ready"

    def _verdict(self, outcome: str) -> int:
        if outcome == "stop":
            emit("stopping")
            return 0
        name = outcome.split(":", 1)[1]
        emit(f"{name} exited with status {self.group[name].returncode}: stopping the rest")
        return 1


async def prerequisites(settings: DevstackSettings, stages: list[list[Service]]) -> str | None:
    """None when everything needed is there, else the first problem and its fix."""
    if problem := await check_rabbitmq(settings.amqp_url):
        return problem
    if problem := await ensure_database(settings.database_url):
        return problem
    if missing := missing_scripts(stages):
        return f"missing console scripts {', '.join(missing)}: run `make install`"
    return None


async def run(settings: DevstackSettings) -> int:
    stages = plan(settings)
    if problem := await prerequisites(settings, stages):
        print(f"devstack: {problem}", file=sys.stderr, flush=True)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = f"http://{settings.host}:{settings.gateway_port}/"
    return await Supervisor(stages, stop, settings).run(f"Switchboard is up: open {url}")


def main() -> None:
    try:
        settings = DevstackSettings()
    except ValidationError as exc:
        print(f"devstack: bad settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(run(settings)))
