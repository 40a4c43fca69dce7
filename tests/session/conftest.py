"""Session service fixtures: the app in-process (real lifespan), tokens, a broker tap."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aio_pika
import httpx
import pytest
from switchboard_edge.auth import AuthSettings, issue_dev_token
from switchboard_events import BrokerSettings, Event, Names, broker_connection, parse_event
from switchboard_events.codec import BATCH_CONTENT_TYPE, MARK_CONTENT_TYPE, split_batch
from switchboard_events.routing import shard_of
from switchboard_session.app import create_app
from switchboard_session.settings import SessionSettings
from switchboard_stack import asyncpg_dsn

from tests.conftest import wait_until
from tests.events.decode import events_of

AUTH = AuthSettings(
    SWITCHBOARD_ENV="dev", JWT_SECRET="test-secret-for-the-session-service-0123456789"
)


def token(user: str) -> str:
    return issue_dev_token(user, AUTH)


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


def make_settings(
    database_url: str, broker: BrokerSettings, auth: AuthSettings = AUTH, **env: Any
) -> SessionSettings:
    values = {**broker.model_dump(by_alias=True), **auth.model_dump(by_alias=True)}
    return SessionSettings(DATABASE_URL=database_url, BROKER_RETRY_S=0.2, **{**values, **env})


@asynccontextmanager
async def running(
    settings: SessionSettings, ready: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client on it; waits for health 200."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://session") as client:
            if ready:

                async def healthy() -> bool:
                    return (await client.get("/ai/health")).status_code == 200

                await wait_until(healthy, timeout=30)
            yield client


AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_app(database_url: str, broker_settings: BrokerSettings) -> AsyncIterator[AppFactory]:
    async with AsyncExitStack() as stack:

        async def factory(**env: Any) -> httpx.AsyncClient:
            settings = make_settings(database_url, broker_settings, **env)
            client = await stack.enter_async_context(running(settings))
            client.database_url = database_url  # type: ignore[attr-defined]
            return client

        yield factory


@pytest.fixture
async def client(make_app: AppFactory) -> httpx.AsyncClient:
    return await make_app()


class Tap:
    """A queue bound to some routing keys of `ai.commands` or `ai.control`, collecting what
    arrives (session events are on the streams: `stream_tap`)."""

    def __init__(self) -> None:
        self.bodies: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

    async def next_json(self, timeout: float = 10) -> dict[str, Any]:
        message = await asyncio.wait_for(self.bodies.get(), timeout)
        return dict(json.loads(message.body))

    async def next_event(self, timeout: float = 10) -> Event:
        message = await asyncio.wait_for(self.bodies.get(), timeout)
        return events_of(message)[0]

    async def next_message(self, timeout: float = 10) -> aio_pika.abc.AbstractIncomingMessage:
        return await asyncio.wait_for(self.bodies.get(), timeout)

    async def event_of_type(self, event_type: str, timeout: float = 10) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next_event()
                if event.type == event_type:
                    return event


@pytest.fixture
async def tap(
    broker_settings: BrokerSettings, names: Names
) -> AsyncIterator[Callable[..., Awaitable[Tap]]]:
    async with broker_connection(broker_settings, "test-tap") as conn:
        channel = await conn.channel()

        async def make(exchange: str, *keys: str, also: tuple[tuple[str, str], ...] = ()) -> Tap:
            """A tap on `keys` of `exchange` (and on each `(exchange, key)` of `also`, into the
            same queue, so what it collects keeps the broker's order across exchanges)."""
            tap = Tap()
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            for key in keys:
                await queue.bind(exchange, key)
            for other, key in also:
                await queue.bind(other, key)
            await queue.consume(lambda m: tap.bodies.put(m), no_ack=True)
            return tap

        yield make


class StreamTap:
    """The events of one session read from its shard stream (from its first offset: every
    test has its own streams), optionally of some types only."""

    def __init__(self, session_id: str, types: tuple[str, ...]) -> None:
        self.session_id = session_id
        self.types = types
        self.events: asyncio.Queue[tuple[bytes, Event]] = asyncio.Queue()
        self.marks: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        """The shard's marks (any session's): offset and id."""

    async def take(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()
        if message.content_type == MARK_CONTENT_TYPE:
            offset = (message.headers or {}).get("x-stream-offset")
            self.marks.put_nowait((int(offset), message.body.decode()))  # type: ignore[arg-type]
            return
        if message.content_type != BATCH_CONTENT_TYPE:
            return
        for line in split_batch(message.body):
            event = parse_event(line)
            if event.session_id == self.session_id and (not self.types or event.type in self.types):
                self.events.put_nowait((line, event))

    async def next_event(self, timeout: float = 10) -> Event:
        return (await asyncio.wait_for(self.events.get(), timeout))[1]

    async def next_line(self, timeout: float = 10) -> bytes:
        """The next event as it is on the stream, byte for byte."""
        return (await asyncio.wait_for(self.events.get(), timeout))[0]

    async def event_of_type(self, event_type: str, timeout: float = 10) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next_event()
                if event.type == event_type:
                    return event

    async def next_mark(self, timeout: float = 10) -> tuple[int, str]:
        """The next mark on the shard: its offset and id."""
        return await asyncio.wait_for(self.marks.get(), timeout)


@pytest.fixture
async def stream_tap(
    broker_settings: BrokerSettings, names: Names
) -> AsyncIterator[Callable[..., Awaitable[StreamTap]]]:
    """`await stream_tap(session_id, *types)`: a `StreamTap` on the session's shard."""
    async with broker_connection(broker_settings, "test-stream-tap") as conn:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=100)

        async def make(session_id: str, *types: str) -> StreamTap:
            tap = StreamTap(session_id, types)
            stream = names.stream(shard_of(session_id, broker_settings.stream_shards))
            queue = await channel.get_queue(stream, ensure=False)
            await queue.consume(tap.take, arguments={"x-stream-offset": "first"})
            return tap

        yield make


@pytest.fixture
async def publish(
    broker_settings: BrokerSettings, names: Names
) -> AsyncIterator[Callable[[Event], Awaitable[None]]]:
    """Publish an event on its shard stream as a worker would (run_start, run_end, response)."""
    from switchboard_events import Publisher

    async with broker_connection(broker_settings, "test-worker") as conn:
        channel = await conn.channel()
        publisher = await Publisher(channel, names, broker_settings).start()
        yield publisher.publish


async def fetch(database_url: str, query: str, *args: Any) -> list[Any]:
    """Rows straight from Postgres (to check what the service stored)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()
