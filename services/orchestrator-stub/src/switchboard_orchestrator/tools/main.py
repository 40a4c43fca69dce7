"""`switchboard-tools`: the tool worker process (SIGTERM stops it)."""

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from pydantic import ValidationError
from switchboard_events import broker_connection, names_from

from ..settings import ToolSettings
from .builtin import builtin_tools
from .registry import ToolRegistry
from .server import ToolServer

log = logging.getLogger("switchboard_orchestrator.tools")


async def serve(
    settings: ToolSettings, stop: asyncio.Event, on_ready: Callable[[ToolServer], None]
) -> None:
    """Serve the built-in tools until `stop` is set."""
    registry = ToolRegistry(builtin_tools(settings.slow_max_s))
    async with broker_connection(settings, "switchboard-tools") as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.tool_prefetch)
        server = ToolServer(channel, names_from(settings), registry, settings.queue_type)
        await server.start()
        on_ready(server)
        try:
            await stop.wait()
        finally:
            await server.stop()


async def _main(settings: ToolSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop, lambda server: print("tools ready", flush=True))
    log.info("tool worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = ToolSettings()
    except ValidationError as exc:
        sys.exit(f"switchboard-tools: bad settings: {exc}")
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
