"""A stack of several processes per service on the cluster: gateways, session services, run
workers (and one tool worker), each given every node's URL and left to pick one.

Gateway i talks to session service i % sessions (each gateway takes one SESSION_URL); every
process shares one database and one broker prefix.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from switchboard_events import BrokerSettings

from tests.procs import ServiceProcess, free_port
from tests.stack import Stack, stack_env


@dataclass
class ClusterStack(Stack):
    gateways: list[str] = field(default_factory=list)
    """Base URLs of every gateway (`url` is the first)."""
    broker: BrokerSettings | None = None


@contextlib.asynccontextmanager
async def cluster_stack(
    database_url: str,
    broker: BrokerSettings,
    gateways: int = 1,
    sessions: int = 1,
    workers: int = 1,
) -> AsyncIterator[ClusterStack]:
    host = ["--host", "127.0.0.1"]
    session_ports = [free_port() for _ in range(sessions)]
    gateway_ports = [free_port() for _ in range(gateways)]
    env = stack_env(database_url, broker, session_ports[0])
    bases = [f"http://127.0.0.1:{port}" for port in gateway_ports]
    stack = ClusterStack(bases[0], env["SESSION_URL"], env, gateways=bases, broker=broker)
    for i, port in enumerate(session_ports):
        stack.processes[f"session-{i}"] = ServiceProcess(
            "switchboard-session", [*host, "--port", str(port)], env
        )
    for i in range(workers):
        stack.processes[f"worker-{i}"] = ServiceProcess("switchboard-worker", [], env)
    stack.processes["tools"] = ServiceProcess("switchboard-tools", [], env)
    for i, port in enumerate(gateway_ports):
        own = {**env, "SESSION_URL": f"http://127.0.0.1:{session_ports[i % sessions]}"}
        stack.processes[f"gateway-{i}"] = ServiceProcess(
            "switchboard-gateway", [*host, "--port", str(port)], own
        )
    try:
        for process in stack.processes.values():
            process.start()
        for i, port in enumerate(session_ports):
            await stack.processes[f"session-{i}"].wait_http(
                f"http://127.0.0.1:{port}/ai/health", 90
            )
        for i in range(workers):
            await stack.processes[f"worker-{i}"].wait_output("worker ready", 90)
        await stack.processes["tools"].wait_output("tools ready", 90)
        for i, base in enumerate(bases):
            await stack.processes[f"gateway-{i}"].wait_http(f"{base}/ai/health", 90)
        yield stack
    finally:
        for process in stack.processes.values():
            process.stop(10)
