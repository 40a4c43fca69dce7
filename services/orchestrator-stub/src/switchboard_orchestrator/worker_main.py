"""`switchboard-worker`: the run worker process (SIGTERM stops it gracefully)."""

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from pydantic import ValidationError
from switchboard_events import broker_connection

from .backend import AgentBackend, ScriptedBackend
from .openai_backend import OpenAIBackend, openai_client
from .settings import WorkerSettings
from .worker import RunWorker

log = logging.getLogger("switchboard_orchestrator")


@asynccontextmanager
async def backend_from(settings: WorkerSettings) -> AsyncIterator[AgentBackend]:
    """The configured backend, with its HTTP client closed on exit."""
    if settings.model_backend != "openai":
        yield ScriptedBackend(settings.word_delay_s)
        return
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    client = openai_client(key, settings.openai_timeout_s)
    try:
        assert settings.openai_base_url is not None
        yield OpenAIBackend(client, settings.openai_base_url, settings.openai_model)
    finally:
        await client.aclose()


async def serve(
    settings: WorkerSettings, stop: asyncio.Event, on_ready: Callable[[RunWorker], None]
) -> None:
    """Run the worker until `stop` is set, then shut it down gracefully."""
    async with (
        broker_connection(settings, "switchboard-worker") as connection,
        backend_from(settings) as backend,
    ):
        worker = RunWorker(settings, connection, backend)
        await worker.start()
        on_ready(worker)
        try:
            await stop.wait()
        finally:
            await worker.stop()


async def _main(settings: WorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop, lambda worker: print("worker ready", flush=True))
    log.info("worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        sys.exit(f"switchboard-worker: bad settings: {exc}")
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
