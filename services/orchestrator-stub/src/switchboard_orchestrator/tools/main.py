"""`switchboard-tools`: the tool worker process (SIGTERM stops it)."""

import asyncio
from collections.abc import Callable

from switchboard_events import broker_connection, names_from
from switchboard_runtime.heap import release_heap, settle_heap

from ..process import run_process
from ..settings import ToolSettings
from .builtin import builtin_tools
from .mcp_servers import McpServers
from .registry import ToolRegistry
from .server import ToolServer


async def serve(
    settings: ToolSettings, stop: asyncio.Event, on_ready: Callable[[ToolServer], None]
) -> None:
    """Serve the built-in tools and the MCP servers' tools until `stop` is set."""
    registry = ToolRegistry(builtin_tools(settings.slow_max_s))
    mcp = McpServers(settings.mcp_servers, registry, settings.mcp_retry_s, settings.mcp_health_s)
    await mcp.start(settings.mcp_connect_timeout_s)
    try:
        await _serve(settings, registry, stop, on_ready)
    finally:
        await mcp.stop()


async def _serve(
    settings: ToolSettings,
    registry: ToolRegistry,
    stop: asyncio.Event,
    on_ready: Callable[[ToolServer], None],
) -> None:
    async with broker_connection(settings, "switchboard-tools") as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.tool_prefetch)
        server = ToolServer(
            channel,
            names_from(settings),
            registry,
            settings,
            max_calls_per_user=settings.max_tool_calls_per_user,
        )
        await server.start()
        if settings.gc_freeze:
            settle_heap()  # startup is over: tools, MCP clients, broker link
        on_ready(server)
        try:
            await stop.wait()
        finally:
            await server.stop()
            release_heap()


def main() -> None:
    run_process("switchboard-tools", ToolSettings, serve, "tools ready")


if __name__ == "__main__":
    main()
