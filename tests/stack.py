"""The whole Switchboard stack as real processes: session service, gateway, run and tool workers.

Reuse: `from tests.stack import stack` in a conftest (it needs `database_url` and
`broker_settings`), or `async with running_stack(database_url, broker_settings) as s:`.
"""

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from switchboard_events import BrokerSettings

from tests.infra import broker_env, fresh_database, isolated_broker
from tests.procs import BIN, ServiceProcess, free_port

SCRIPTS = ("switchboard-session", "switchboard-gateway", "switchboard-worker", "switchboard-tools")


def stack_installed() -> bool:
    return all((BIN / script).exists() or shutil.which(script) for script in SCRIPTS)


@dataclass
class Stack:
    url: str
    session_url: str
    env: dict[str, str]
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.output()[-3000:]}" for name, p in self.processes.items())


def stack_env(database_url: str, broker: BrokerSettings, session_port: int) -> dict[str, str]:
    return {
        "SWITCHBOARD_ENV": "dev",
        **broker_env(broker),
        "DATABASE_URL": database_url,
        "SESSION_URL": f"http://127.0.0.1:{session_port}",
        "WORD_DELAY_S": "0.01",  # the stub model's pacing, not a delivery setting: shorter runs
    }


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str, broker: BrokerSettings, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    session_port, gateway_port = free_port(), free_port()
    env = {**stack_env(database_url, broker, session_port), **(extra_env or {})}
    stack = Stack(f"http://127.0.0.1:{gateway_port}", env["SESSION_URL"], env)
    host = ["--host", "127.0.0.1"]
    stack.processes = {
        "session": ServiceProcess("switchboard-session", [*host, "--port", str(session_port)], env),
        "gateway": ServiceProcess("switchboard-gateway", [*host, "--port", str(gateway_port)], env),
        "worker": ServiceProcess("switchboard-worker", [], env),
        "tools": ServiceProcess("switchboard-tools", [], env),
    }
    try:
        for process in stack.processes.values():
            process.start()
        await stack.processes["session"].wait_http(f"{stack.session_url}/ai/health", 60)
        await stack.processes["worker"].wait_output("worker ready")
        await stack.processes["tools"].wait_output("tools ready")
        await stack.processes["gateway"].wait_http(f"{stack.url}/ai/health", 60)
        yield stack
    finally:
        for process in stack.processes.values():
            process.stop(10)


@pytest.fixture
async def stack(database_url: str, broker_settings: BrokerSettings) -> AsyncIterator[Stack]:
    """Every service as its own process on free ports, isolated by database and prefix."""
    if not stack_installed():
        pytest.skip(f"services not installed yet: needs {', '.join(SCRIPTS)} in {BIN}")
    async with running_stack(database_url, broker_settings) as running:
        yield running


__all__ = ["SCRIPTS", "Stack", "running_stack", "stack", "stack_installed"]


@contextlib.asynccontextmanager
async def isolated_stack(postgres_admin_url: str, amqp_url: str, tag: str) -> AsyncIterator[Stack]:
    """A whole stack on a database and broker prefix of its own (for module-scoped fixtures:
    one stack serves every test of a module); skips when the services are not installed."""
    if not stack_installed():
        pytest.skip(f"services not installed yet: needs {', '.join(SCRIPTS)} in {BIN}")
    async with (
        fresh_database(postgres_admin_url, f"sb_{tag}") as database_url,
        isolated_broker(amqp_url, tag[:1]) as broker,
        running_stack(database_url, broker) as running,
    ):
        yield running
