"""`make run`: the whole stack on one machine, as child processes of this one.

Checks that RabbitMQ and Postgres answer (and says how to start them when not), creates the
database if missing, starts the session service, then the gateway, run worker and tool worker
from this interpreter's bin directory with `SWITCHBOARD_ENV=dev`, prefixes their logs, waits for
health and prints the demo page's URL. SIGINT/SIGTERM stop everything; a child that dies stops
the rest and the exit status is non-zero.
"""

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/switchboard"
BIN = Path(sys.executable).parent
COLORS = ("36", "35", "33", "32", "34", "31")
START_BOTH = "docker compose up -d rabbitmq postgres"


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


@dataclass(frozen=True)
class Service:
    """One child process: its log name, command line, extra environment and health URL.

    A `oneshot` service (a migration) is ready when it exits with status 0.
    """

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    oneshot: bool = False
    ready_line: str | None = None
    """A service without a health URL is ready when it prints this line (`worker ready`)."""


def plan(settings: DevstackSettings, bin_dir: Path = BIN) -> list[list[Service]]:
    """Start order in stages: migrations, the session service, then what depends on it."""
    host, session_url = settings.host, f"http://{settings.host}:{settings.session_port}"
    env = {"SWITCHBOARD_ENV": os.environ.get("SWITCHBOARD_ENV", "dev"), "PYTHONUNBUFFERED": "1"}
    env |= {"AMQP_URL": settings.amqp_url}
    database = env | {"DATABASE_URL": settings.database_url}

    def http(name: str, port: int, extra: dict[str, str]) -> Service:
        argv = [str(bin_dir / f"switchboard-{name}"), "--host", host, "--port", str(port)]
        return Service(name, argv, extra, f"http://{host}:{port}/ai/health")

    migrate = [str(bin_dir / "switchboard-session"), "migrate", "--wait", "5"]
    return [
        [Service("migrate", migrate, database, oneshot=True)],
        [http("session", settings.session_port, database)],
        [
            http("gateway", settings.gateway_port, env | {"SESSION_URL": session_url}),
            Service(
                "worker", [str(bin_dir / "switchboard-worker")], env, ready_line="worker ready"
            ),
            Service(
                "tools",
                [str(bin_dir / "switchboard-tools")],
                env | mcp_servers(bin_dir),
                ready_line="tools ready",
            ),
        ],
    ]


def mcp_servers(bin_dir: Path) -> dict[str, str]:
    """The tool worker's MCP_SERVERS: the caller's, else the bundled example server over
    stdio (its `calc`, `add_note`, `list_notes` tools show an MCP round trip in the demo)."""
    configured = os.environ.get("MCP_SERVERS")
    if configured is not None:
        return {"MCP_SERVERS": configured}
    example = {
        "name": "example",
        "command": str(bin_dir / "python"),
        "args": ["-m", "switchboard_orchestrator.mcp_example"],
    }
    return {"MCP_SERVERS": json.dumps([example])}


def missing_scripts(stages: list[list[Service]]) -> list[str]:
    scripts = {s.argv[0]: None for stage in stages for s in stage}
    return [script for script in scripts if not Path(script).exists()]


# --- prerequisites -------------------------------------------------------------------------


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def check_rabbitmq(url: str, timeout: float = 5.0) -> str | None:
    """None when the broker accepts a connection, else what to do about it."""
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes advice
        return (
            f"RabbitMQ is not reachable at {redact(url)} ({exc!r}).\n"
            f"Start it with one of:\n  {START_BOTH}\n"
            "  rabbitmq-server -detached        (a local install)\n"
            "or point AMQP_URL at a running broker."
        )
    await connection.close()
    return None


def _dsn(url: str, database: str | None = None) -> tuple[str, str]:
    """(asyncpg DSN, database name) of a SQLAlchemy-style URL, optionally for another database."""
    parts = urlsplit(url)
    scheme = "postgresql"
    name = parts.path.lstrip("/") or "postgres"
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(scheme=scheme, path=path)), name


def _postgres_advice(url: str, exc: BaseException) -> str:
    return (
        f"Postgres is not reachable at {redact(url)} ({exc!r}).\n"
        f"Start it with one of:\n  {START_BOTH}\n"
        "  pg_ctlcluster 15 main start      (Debian/Ubuntu; `pg_lsclusters` lists yours)\n"
        "or point DATABASE_URL at a running server."
    )


async def ensure_database(url: str, timeout: float = 5.0) -> str | None:
    """Create the database of `url` if missing; None when it exists, else what to do."""
    import asyncpg  # the session service's driver; only `make run` needs it here

    dsn, name = _dsn(url)
    try:
        connection = await asyncpg.connect(dsn, timeout=timeout)
    except asyncpg.InvalidCatalogNameError:
        return await _create_database(url, name, timeout)
    except Exception as exc:  # noqa: BLE001
        return _postgres_advice(url, exc)
    await connection.close()
    return None


async def _create_database(url: str, name: str, timeout: float) -> str | None:
    import asyncpg

    try:
        admin = await asyncpg.connect(_dsn(url, "postgres")[0], timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return _postgres_advice(url, exc)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await admin.execute(f"CREATE DATABASE {quoted}")
        print(f"devstack: created database {name}", flush=True)
    except asyncpg.DuplicateDatabaseError:
        pass  # created concurrently: fine
    except Exception as exc:  # noqa: BLE001
        return f"Could not create database {name!r}: {exc!r}"
    finally:
        await admin.close()
    return None


# --- children ------------------------------------------------------------------------------


async def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET `url` answers 200 (plain HTTP/1.0, so no client library is needed)."""
    parts = urlsplit(url)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            try:
                request = f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n"
                writer.write(request.encode())
                status = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    return status.split(b" ")[1:2] == [b"200"]


class Child:
    """A running service whose output is copied to ours, each line prefixed with its name."""

    def __init__(self, service: Service, color: str | None) -> None:
        self.service = service
        label = f"[{service.name}]"
        self.prefix = f"\x1b[{color}m{label}\x1b[0m " if color else f"{label} "
        self.proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self.printed_ready = asyncio.Event()

    @property
    def name(self) -> str:
        return self.service.name

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.service.argv,
            env={**os.environ, **self.service.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            process_group=0,  # our signals reach it only through us
            limit=1 << 20,
        )
        self._pump = asyncio.create_task(self._copy_output())

    async def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            if text == self.service.ready_line:
                self.printed_ready.set()
            sys.stdout.write(f"{self.prefix}{text}\n")
            sys.stdout.flush()

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    def send(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    async def stop(self, timeout: float) -> None:
        """SIGTERM, SIGKILL after `timeout`; returns when it exited and its output is copied."""
        if self.proc is None:
            return
        self.send(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            emit(f"{self.name} did not stop within {timeout:g} s: killing it")
            self.send(signal.SIGKILL)
            await self.proc.wait()
        if self._pump is not None:
            await self._pump


def emit(text: str) -> None:
    sys.stdout.write(f"devstack: {text}\n")
    sys.stdout.flush()


# --- the stack -----------------------------------------------------------------------------


class StartFailed(RuntimeError):
    """A service never became ready (health timeout, or a failed one-shot step)."""


class Stack:
    """Starts stages in order, watches the children, and stops them all on the way out."""

    def __init__(
        self, stages: list[list[Service]], stop: asyncio.Event, settings: DevstackSettings
    ) -> None:
        self.stages = stages
        self.stop = stop
        self.settings = settings
        self.children: list[Child] = []
        self._color = sys.stdout.isatty()

    async def run(self, ready_message: str = "") -> int:
        """0 after a requested stop, 1 when a child died or never became healthy."""
        try:
            for stage in self.stages:
                await self._start(stage)
                outcome = await self._race(self._healthy(stage))
                if outcome != "ready":
                    return self._verdict(outcome)
            if ready_message:
                emit(ready_message)
            return self._verdict(await self._race(None))
        except StartFailed as exc:
            emit(str(exc))
            return 1
        finally:
            await self._stop_all()

    async def _start(self, stage: list[Service]) -> None:
        for service in stage:
            color = COLORS[len(self.children) % len(COLORS)] if self._color else None
            child = Child(service, color)
            self.children.append(child)
            await child.start()

    async def _healthy(self, stage: list[Service]) -> None:
        await asyncio.gather(*(self._ready(c) for c in self.children if c.service in stage))

    async def _ready(self, child: Child) -> None:
        if child.service.oneshot:
            if code := await child.wait():
                raise StartFailed(f"{child.name} failed with status {code}")
        elif child.service.health_url:
            await self._wait_http(child.service)
        elif child.service.ready_line:
            try:
                await asyncio.wait_for(child.printed_ready.wait(), self.settings.health_timeout_s)
            except TimeoutError:
                raise StartFailed(
                    f"{child.name} did not print {child.service.ready_line!r}"
                ) from None

    async def _wait_http(self, service: Service) -> None:
        assert service.health_url is not None
        deadline = asyncio.get_running_loop().time() + self.settings.health_timeout_s
        while not await http_ok(service.health_url):
            if asyncio.get_running_loop().time() > deadline:
                raise StartFailed(f"{service.name} not healthy at {service.health_url}")
            await asyncio.sleep(0.2)
        emit(f"{service.name} healthy at {service.health_url}")

    async def _race(self, work: Awaitable[None] | None) -> str:
        """'stop', 'died:<name>' or 'ready' (when `work` finished first)."""
        tasks: dict[asyncio.Future[object], str] = {asyncio.ensure_future(self.stop.wait()): "stop"}
        for child in self.children:
            if not child.service.oneshot:
                tasks[asyncio.ensure_future(child.wait())] = f"died:{child.name}"
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
        code = next(c.returncode for c in self.children if f"died:{c.name}" == outcome)
        emit(f"{outcome.split(':', 1)[1]} exited with status {code}: stopping the rest")
        return 1

    async def _stop_all(self) -> None:
        timeout = self.settings.stop_timeout_s
        await asyncio.gather(*(c.stop(timeout) for c in reversed(self.children)))
        if self.children:
            emit("all services stopped")


# --- entry point ---------------------------------------------------------------------------


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
    return await Stack(stages, stop, settings).run(f"Switchboard is up: open {url}")


def main() -> None:
    try:
        settings = DevstackSettings()
    except ValidationError as exc:
        print(f"devstack: bad settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
