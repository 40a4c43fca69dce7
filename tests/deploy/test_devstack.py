"""`make run`'s supervisor (switchboard_stack.devstack): prerequisites, start order, log
prefixes, stopping, a dying child."""

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest
from switchboard_stack import (
    Service,
    asyncpg_dsn,
    check_rabbitmq,
    ensure_database,
    free_port,
    run_token,
    with_database,
)
from switchboard_stack.devstack import DevstackSettings, Supervisor

pytestmark = pytest.mark.timeout(60)

SERVE = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200 if self.path == '/ai/health' else 404); self.end_headers()\n"
    "print('serving', flush=True)\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)


def _py(name: str, code: str, *args: str, health: str | None = None) -> Service:
    return Service(name, sys.executable, ["-c", code, *args], health_url=health)


def _http(name: str) -> Service:
    port = free_port()
    return _py(name, SERVE, str(port), health=f"http://127.0.0.1:{port}/ai/health")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_stop_request_stops_every_child(capfd: pytest.CaptureFixture[str]) -> None:
    stop = asyncio.Event()
    first, second = (
        _http("alpha"),
        _py("beta", "import time; print('up', flush=True); time.sleep(600)"),
    )
    stack = Supervisor([[first], [second]], stop, DevstackSettings())
    running = asyncio.create_task(stack.run("READY"))
    while "devstack: READY" not in capfd.readouterr().out and not running.done():
        await asyncio.sleep(0.05)
    pids = [child.proc.pid for child in stack.group.processes.values() if child.proc]
    stop.set()
    assert await running == 0
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)


async def test_a_dying_child_stops_the_rest(capfd: pytest.CaptureFixture[str]) -> None:
    stack = Supervisor(
        [[_http("alpha")], [_py("beta", "print('bye', flush=True); raise SystemExit(3)")]],
        asyncio.Event(),
        DevstackSettings(),
    )
    assert await stack.run("READY") == 1
    out = capfd.readouterr().out
    assert "[beta] bye" in out and "beta exited with status 3" in out
    assert all(child.returncode is not None for child in stack.group.processes.values())


async def test_a_failed_oneshot_step_stops_before_the_next_stage() -> None:
    failing = Service("migrate", sys.executable, ["-c", "raise SystemExit(2)"], oneshot=True)
    stack = Supervisor([[failing], [_http("alpha")]], asyncio.Event(), DevstackSettings())
    assert await stack.run() == 1
    assert list(stack.group.processes) == ["migrate"]


async def test_a_service_that_never_gets_healthy_fails_the_start() -> None:
    silent = _py("alpha", "import time; time.sleep(600)", health=f"http://127.0.0.1:{free_port()}/")
    stack = Supervisor([[silent]], asyncio.Event(), DevstackSettings(DEVSTACK_HEALTH_TIMEOUT_S=0.5))
    assert await stack.run() == 1
    assert stack.group["alpha"].returncode is not None


async def test_unreachable_rabbitmq_is_explained() -> None:
    advice = await check_rabbitmq(f"amqp://guest:secret@127.0.0.1:{free_port()}/")
    assert advice and "docker compose up -d rabbitmq postgres" in advice
    assert "rabbitmq-server -detached" in advice and "secret" not in advice


@pytest.mark.broker
async def test_reachable_rabbitmq_passes(amqp_url: str) -> None:
    assert await check_rabbitmq(amqp_url) is None


async def test_unreachable_postgres_is_explained() -> None:
    advice = await ensure_database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x")
    assert advice and "docker compose up -d rabbitmq postgres" in advice
    assert "pg_ctlcluster" in advice


@pytest.mark.db
async def test_missing_database_is_created(postgres_admin_url: str) -> None:
    name = f"sb_devstack_{run_token()}"
    url = with_database(postgres_admin_url, name)
    dsn = asyncpg_dsn(postgres_admin_url)
    try:
        assert await ensure_database(url) is None
        assert await ensure_database(url) is None  # a second time: it exists, nothing to do
        admin = await asyncpg.connect(dsn)
        try:
            assert await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        finally:
            await admin.close()
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def test_unreachable_broker_exits_non_zero_with_advice() -> None:
    env = {**os.environ, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_stack"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "docker compose up -d rabbitmq postgres" in done.stderr
    assert done.stderr.startswith("devstack: RabbitMQ is not reachable")  # no aiormq line first


def test_bad_settings_exit_non_zero() -> None:
    env = {**os.environ, "GATEWAY_PORT": "eighty"}
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_stack"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "GATEWAY_PORT" in done.stderr
