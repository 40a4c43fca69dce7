"""Run leases end to end: a session service and a gateway as processes, run workers started by
each test (some behind a proxy that blips their broker link), a device that follows the docs."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import ServiceProcess, free_port, stack_env

from tests.stack import TEST_ENV, stack_installed


@dataclass
class LeaseStack:
    url: str
    env: dict[str, str]
    processes: list[ServiceProcess] = field(default_factory=list)

    async def start_worker(self, **env: str) -> ServiceProcess:
        """A run worker (its AMQP_URL may point at a proxy)."""
        proc = ServiceProcess("switchboard-worker", [], {**self.env, **env}).start()
        self.processes.append(proc)
        await proc.wait_output("worker ready")
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.script}\n{p.output()[-4000:]}" for p in self.processes)


@contextlib.asynccontextmanager
async def lease_stack(
    database_url: str, broker: BrokerSettings, **session_env: str
) -> AsyncIterator[LeaseStack]:
    """Session service and gateway, no worker yet (shipped lease settings unless given)."""
    if not stack_installed():
        pytest.skip("services not installed")
    session_port, gateway_port = free_port(), free_port()
    env = stack_env(database_url, broker, f"http://127.0.0.1:{session_port}", TEST_ENV)
    host = ["--host", "127.0.0.1"]
    session = ServiceProcess(
        "switchboard-session", [*host, "--port", str(session_port)], {**env, **session_env}
    )
    gateway = ServiceProcess("switchboard-gateway", [*host, "--port", str(gateway_port)], env)
    stack = LeaseStack(f"http://127.0.0.1:{gateway_port}", env, [session, gateway])
    try:
        session.start()
        gateway.start()
        await session.wait_http(f"{env['SESSION_URL']}/ai/health", 60)
        await gateway.wait_http(f"{stack.url}/ai/health", 60)
        yield stack
    finally:
        for proc in stack.processes:
            proc.stop(10)
