"""`switchboard-worker`: the run worker process (SIGTERM stops it gracefully)."""

import asyncio
from collections.abc import Callable

from switchboard_events import broker_connection
from switchboard_runtime.heap import release_heap, settle_heap

from .agent_backends import agents_from
from .process import run_process
from .settings import WorkerSettings
from .voice import voice_from
from .worker import RunWorker


async def serve(
    settings: WorkerSettings, stop: asyncio.Event, on_ready: Callable[[RunWorker], None]
) -> None:
    """Run the worker until `stop` is set, then shut it down gracefully."""
    async with (
        broker_connection(settings, "switchboard-worker") as connection,
        agents_from(settings) as agents,
        voice_from(settings) as voice,
    ):
        worker = RunWorker(settings, connection, agents, voice)
        await worker.start()
        if settings.gc_freeze:
            settle_heap()  # startup is over: backend, broker links, tools
        on_ready(worker)
        try:
            await stop.wait()
        finally:
            await worker.stop()
            release_heap()


def main() -> None:
    run_process("switchboard-worker", WorkerSettings, serve, "worker ready")


if __name__ == "__main__":
    main()
