"""`make run` for real: the harness (`python -m switchboard_stack`) starts all four services
against the test broker prefix and a fresh database, the gateway answers /ai/health, and SIGINT
stops everything with status 0."""

import os
import signal
import sys
from collections.abc import Iterator

import psutil
import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import ServiceProcess, broker_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]


@pytest.fixture
def devstack(broker_settings: BrokerSettings, database_url: str) -> Iterator[ServiceProcess]:
    env = {
        **broker_env(broker_settings),
        "DATABASE_URL": database_url,
        "GATEWAY_PORT": str(free_port()),
        "SESSION_PORT": str(free_port()),
    }
    process = ServiceProcess(sys.executable, ["-m", "switchboard_stack"], env).start()
    assert process.proc is not None
    spawned = psutil.Process(process.proc.pid)
    yield process
    leftovers = spawned.children(recursive=True) if spawned.is_running() else []
    process.kill()  # only if the test failed before it stopped cleanly
    for child in leftovers:
        child.kill()


async def test_make_run_serves_health_and_stops_on_sigint(devstack: ServiceProcess) -> None:
    port = devstack.env["GATEWAY_PORT"]
    await devstack.wait_http(f"http://127.0.0.1:{port}/ai/health", timeout=90)
    await devstack.wait_output(f"open http://127.0.0.1:{port}/", timeout=30)
    assert devstack.proc is not None
    children = psutil.Process(devstack.proc.pid).children(recursive=True)
    assert len(children) >= 4

    os.kill(devstack.proc.pid, signal.SIGINT)
    assert devstack.proc.wait(60) == 0, devstack.output()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
    log = devstack.output()
    for name in ("session", "gateway", "worker", "tools"):
        assert f"[{name}] " in log
    assert "all services stopped" in log
