"""Test helpers: start the workers in-process, send run requests and cancels, read events
(from the session's shard stream)."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from switchboard_events import BrokerSettings, Event, Names, new_id
from switchboard_events.topology import RUN_KEY
from switchboard_orchestrator.settings import ToolSettings, WorkerSettings
from switchboard_orchestrator.tools.main import serve as serve_tools
from switchboard_orchestrator.tools.server import ToolServer
from switchboard_orchestrator.worker import RunWorker
from switchboard_orchestrator.worker_main import serve as serve_worker

from tests.tap import Tap, Taps

TIMEOUT = 20.0


def worker_settings(broker: BrokerSettings, **env: Any) -> WorkerSettings:
    base = {"WORD_DELAY_S": 0, "TOOL_TIMEOUT_S": 5, "SHUTDOWN_GRACE_S": 2}
    values = {**broker.model_dump(by_alias=True), **base, **env}
    return WorkerSettings(**values)


def tool_settings(broker: BrokerSettings, **env: Any) -> ToolSettings:
    return ToolSettings(**{**broker.model_dump(by_alias=True), **env})


def process_env(broker: BrokerSettings, **env: Any) -> dict[str, str]:
    """Environment for a worker process with the test's broker settings."""
    values = {**broker.model_dump(by_alias=True), "WORD_DELAY_S": 0, **env}
    return {key: str(value) for key, value in values.items()}


@asynccontextmanager
async def _serving(serve: Any, settings: Any) -> AsyncIterator[Any]:
    """`serve(settings, stop, on_ready)` in this process; what it was ready with, until exit."""
    stop = asyncio.Event()
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, stop, ready.set_result))
    await asyncio.wait({task, ready}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield ready.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)


def running_worker(settings: WorkerSettings) -> AbstractAsyncContextManager[RunWorker]:
    """A run worker in this process, stopped gracefully on exit."""
    return _serving(serve_worker, settings)


def running_tools(settings: ToolSettings) -> AbstractAsyncContextManager[ToolServer]:
    """A tool worker in this process, stopped on exit."""
    return _serving(serve_tools, settings)


Device = Tap
"""One session watched on its shard's stream (tests/tap.py), as a device would see it."""


class Client:
    """Plays the session service: publishes run requests and cancels; watches sessions."""

    def __init__(self, channel: AbstractChannel, names: Names, settings: BrokerSettings) -> None:
        self.channel = channel
        self.names = names
        self.settings = settings
        self.taps = Taps(settings)

    async def device(self) -> Device:
        """A new session, watched from now on."""
        return await self.taps.session(new_id())

    async def close(self) -> None:
        await self.taps.close()

    async def send(self, device: Device, content: str = "", **fields: Any) -> str:
        """Publish a run request; returns its run_id."""
        run_id = fields.pop("run_id", None) or new_id()
        request = {
            "run_id": run_id,
            "session_id": device.session_id,
            "message_id": new_id(),
            "user_id": "alice",
            "agent_type": "personal",
            "mode": "text",
            "content": content,
            "audio_b64": None,
            "client_id": "test",
            "metadata": {},
            **fields,
        }
        await self.publish_raw(json.dumps(request).encode())
        return run_id

    async def publish_raw(self, body: bytes) -> None:
        exchange = await self.channel.get_exchange(self.names.commands_exchange)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await exchange.publish(message, RUN_KEY)

    async def cancel(self, device: Device, run_id: str) -> None:
        exchange = await self.channel.get_exchange(self.names.control_exchange)
        body = json.dumps({"run_id": run_id, "session_id": device.session_id}).encode()
        await exchange.publish(aio_pika.Message(body), self.names.cancel_key(run_id))


def types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def assert_seq(events: list[Event]) -> None:
    """One run's events, numbered 1..n without holes."""
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
