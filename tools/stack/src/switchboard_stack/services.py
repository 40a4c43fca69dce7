"""What a stack is made of: each service's command line, environment and readiness signal."""

import json
import os
from dataclasses import dataclass, field, replace

from .process import BIN, ServiceProcess


@dataclass(frozen=True)
class Service:
    """One child process: its log name, console script and arguments, extra environment, and
    how it shows it is ready: a health URL, a line it prints, or (`oneshot`, a migration)
    exiting with status 0."""

    name: str
    script: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    ready_line: str | None = None
    oneshot: bool = False

    def process(self, prefix: str | None = None) -> ServiceProcess:
        return ServiceProcess(self.script, self.args, self.env, name=self.name, prefix=prefix)


def http_service(name: str, host: str, port: int, env: dict[str, str]) -> Service:
    """`switchboard-<name>` listening on host:port, ready when /ai/health answers."""
    args = ["--host", host, "--port", str(port)]
    return Service(name, f"switchboard-{name}", args, env, f"http://{host}:{port}/ai/health")


def session(host: str, port: int, env: dict[str, str], name: str = "") -> Service:
    return replace(http_service("session", host, port, env), name=name or "session")


def gateway(host: str, port: int, session_url: str, env: dict[str, str], name: str = "") -> Service:
    service = http_service("gateway", host, port, env | {"SESSION_URL": session_url})
    return replace(service, name=name or "gateway")


def worker(env: dict[str, str], name: str = "worker") -> Service:
    return Service(name, "switchboard-worker", [], env, ready_line="worker ready")


def tools(env: dict[str, str]) -> Service:
    return Service("tools", "switchboard-tools", [], env, ready_line="tools ready")


def migrate(env: dict[str, str]) -> Service:
    return Service("migrate", "switchboard-session", ["migrate", "--wait", "5"], env, oneshot=True)


def example_mcp_servers() -> dict[str, str]:
    """The tool worker's MCP_SERVERS: the caller's, else the bundled example server over
    stdio (its `calc`, `add_note`, `list_notes` tools show an MCP round trip in the demo)."""
    configured = os.environ.get("MCP_SERVERS")
    if configured is not None:
        return {"MCP_SERVERS": configured}
    example = {
        "name": "example",
        "command": str(BIN / "python"),
        "args": ["-m", "switchboard_orchestrator.mcp_example"],
    }
    return {"MCP_SERVERS": json.dumps([example])}


def missing_scripts(stages: list[list[Service]]) -> list[str]:
    """The console scripts of `stages` not installed in BIN."""
    scripts = dict.fromkeys(s.script for stage in stages for s in stage)
    return [str(BIN / script) for script in scripts if not (BIN / script).exists()]
