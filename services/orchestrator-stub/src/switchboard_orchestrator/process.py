"""What both worker processes share: settings read once, logging, stop on SIGTERM/SIGINT."""

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)
Serve = Callable[[S, asyncio.Event, Callable[[object], None]], Awaitable[None]]


def run_process(name: str, settings_type: type[S], serve: Serve[S], ready: str) -> None:
    """Read the settings (exit with a clear message when bad), then serve until a signal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = settings_type()
    except ValidationError as exc:
        sys.exit(f"{name}: bad settings: {exc}")
    _event_loop_runner()(_until_signalled(settings, serve, ready))
    logging.getLogger(name).info("%s stopped", name)


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's runner when it is installed (less CPU per event), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


async def _until_signalled(settings: S, serve: Serve[S], ready: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop, lambda _: print(ready, flush=True))
