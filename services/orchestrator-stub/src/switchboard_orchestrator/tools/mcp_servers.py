"""The tool worker as an MCP client: each server in MCP_SERVERS (a stdio command or a
streamable-HTTP URL) is connected at start, its tools are listed and served next to the
built-ins (same registry, same RPC), and calls to them go to that server, each with the
caller's identity in the `tools/call` request's `_meta` (`switchboard/user_id`,
`switchboard/session_id`, `switchboard/run_id`, `switchboard/call_id`; registry.Caller).

One supervising task per server keeps it connected: it connects, registers the server's
tools, then checks it every `health_s` (a fresh `tools/list`, which also picks up changed
tools) or at once after a call failed. A server that died is reconnected every `retry_s`;
meanwhile its tools stay listed and answer `MCP server NAME is unavailable ...`.
"""

import asyncio
import contextlib
import json
import logging
from typing import Any, cast

from mcp import Client, StdioServerParameters
from mcp.types import RequestParamsMeta
from switchboard_events.retry import reconnecting
from switchboard_protocol import NAME_RE

from .mcp_config import McpServerConfig
from .registry import Caller, Tool, ToolError, ToolRegistry

log = logging.getLogger(__name__)


def _target(config: McpServerConfig) -> StdioServerParameters | str:
    if config.command:
        return StdioServerParameters(command=config.command, args=config.args, env=config.env)
    assert config.url is not None
    return config.url


class McpServer:
    """One configured server, kept connected by `supervise()`."""

    def __init__(
        self, config: McpServerConfig, registry: ToolRegistry, retry_s: float, health_s: float
    ) -> None:
        self.config = config
        self.name = config.name
        self.where = f"MCP server {config.name} ({config.url or config.command})"
        self._registry = registry
        self.retry_s = retry_s
        self._health_s = health_s
        self._client: Client | None = None
        self._suspect = asyncio.Event()
        self.attempted = asyncio.Event()
        """Set after the first connection attempt, whether it worked or not."""
        self.connected = asyncio.Event()

    async def supervise(self) -> None:
        """Connect, serve, and reconnect every `retry_s` after any failure, until cancelled."""
        await reconnecting(self.retry_s, log, self.where)(self._connect)

    async def _connect(self) -> None:
        try:
            async with Client(_target(self.config)) as client:
                await self._serve(client)
        finally:
            self._client = None
            self.connected.clear()
            self.attempted.set()

    async def _serve(self, client: Client) -> None:
        await self._register(client)
        self._client = client
        self.connected.set()
        self.attempted.set()
        log.info("MCP server %s connected (%s)", self.name, self.config.transport)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._suspect.wait(), self._health_s)
            self._suspect.clear()
            await self._register(client)  # raises when the server is gone

    async def _register(self, client: Client) -> None:
        listed = (await client.list_tools(cache_mode="refresh")).tools
        tools = [self._tool(tool.name, tool.description, tool.input_schema) for tool in listed]
        skipped = self._registry.replace_source(self.name, [t for t in tools if t is not None])
        if skipped:
            log.warning("MCP server %s: tools %s not served (names taken)", self.name, skipped)

    def _tool(self, name: str, description: str | None, schema: Any) -> Tool | None:
        if not NAME_RE.fullmatch(name):
            log.warning("MCP server %s: tool %r not served (not a valid name)", self.name, name)
            return None

        async def handler(params: dict[str, Any], caller: Caller) -> Any:
            return await self.call(name, params, caller)

        return Tool(
            name,
            description or "",
            dict(schema or {}),
            handler,
            source=self.name,
            requires_approval=self.config.requires_approval,
        )

    async def call(self, name: str, params: dict[str, Any], caller: Caller) -> Any:
        """The server's answer; the caller's identity goes in the request's `_meta`."""
        client = self._client
        if client is None:
            raise ToolError(f"MCP server {self.name} is unavailable (reconnecting); try later")
        try:
            meta = cast(RequestParamsMeta, caller.meta())
            result = await client.call_tool(name, params, meta=meta)
        except Exception as exc:  # noqa: BLE001 - any failure is the tool's error
            self._suspect.set()
            raise ToolError(f"MCP server {self.name} failed: {exc}") from None
        if result.is_error:
            raise ToolError(_text(result.content) or f"{name} failed on MCP server {self.name}")
        if result.structured_content is not None:
            return result.structured_content
        return _json_or_text(_text(result.content))


def _text(content: list[Any]) -> str:
    return "\n".join(str(part.text) for part in content if getattr(part, "text", None))


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class McpServers:
    """Every configured server, each supervised by its own task."""

    def __init__(
        self,
        configs: list[McpServerConfig],
        registry: ToolRegistry,
        retry_s: float,
        health_s: float,
    ) -> None:
        self.servers = [McpServer(c, registry, retry_s, health_s) for c in configs]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, timeout_s: float) -> None:
        """Start every server; wait up to `timeout_s` for each first connection attempt."""
        self._tasks = [asyncio.create_task(server.supervise()) for server in self.servers]
        waits = [asyncio.ensure_future(s.attempted.wait()) for s in self.servers]
        if waits:
            _, late = await asyncio.wait(waits, timeout=timeout_s)
            for wait in late:
                wait.cancel()
        for server in self.servers:
            if not server.connected.is_set():
                log.warning(
                    "%s did not connect at start-up; its tools answer with an error "
                    "until it does (retrying every %ss)",
                    server.where,
                    server.retry_s,
                )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
