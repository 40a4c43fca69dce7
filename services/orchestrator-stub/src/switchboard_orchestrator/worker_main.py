"""`switchboard-worker`: the run worker process (SIGTERM stops it gracefully)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from switchboard_events import broker_connection
from switchboard_events.heap import release_heap, settle_heap

from .backend import AgentBackend, ScriptedBackend
from .process import run_process
from .settings import WorkerSettings
from .voice import voice_from
from .worker import RunWorker


@asynccontextmanager
async def backend_from(settings: WorkerSettings) -> AsyncIterator[AgentBackend]:
    """The configured backend, with its HTTP client closed on exit."""
    if settings.model_backend == "agui":
        from .agui_backend import AguiBackend, agui_client  # only when used

        assert settings.agui_url is not None
        http = agui_client(settings.agui_timeout_s)
        try:
            yield AguiBackend(http, settings.agui_url)
        finally:
            await http.aclose()
        return
    if settings.model_backend != "openai":
        yield ScriptedBackend(settings.word_delay_s)
        return
    from .openai_backend import (  # only when used
        OpenAIBackend,
        RetryPolicy,
        check_model_server,
        openai_client,
    )

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    assert settings.openai_base_url is not None
    client = openai_client(settings.openai_base_url, key, settings.openai_timeout_s)
    retry = RetryPolicy(
        settings.model_max_retries, settings.model_retry_base_s, settings.model_retry_max_s
    )
    try:
        await check_model_server(client)
        yield OpenAIBackend(client, settings.openai_model, retry)
    finally:
        await client.close()


async def serve(
    settings: WorkerSettings, stop: asyncio.Event, on_ready: Callable[[RunWorker], None]
) -> None:
    """Run the worker until `stop` is set, then shut it down gracefully."""
    async with (
        broker_connection(settings, "switchboard-worker") as connection,
        backend_from(settings) as backend,
        voice_from(settings) as voice,
    ):
        worker = RunWorker(settings, connection, backend, voice)
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
