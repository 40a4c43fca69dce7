"""Several broker URLs: a process connects to one that answers and fails over to the next."""

import asyncio
import contextlib
from urllib.parse import urlsplit

import aio_pika
import pytest
from aio_pika import RobustConnection
from switchboard_events import (
    BrokerSettings,
    Names,
    Publisher,
    broker_connection,
    make_event,
)
from switchboard_events.broker_connection import _PARENT_ATTEMPT, connect_any, connect_cluster
from switchboard_stack import free_port

from tests.tap import tap

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def test_urls_come_from_a_comma_separated_amqp_url() -> None:
    one = BrokerSettings(AMQP_URL="amqp://a/ , amqp://b/")
    assert one.broker_urls == ["amqp://a/", "amqp://b/"]
    both = BrokerSettings(AMQP_URL="amqp://a/", AMQP_URLS="amqp://c/,amqp://d/")
    assert both.broker_urls == ["amqp://a/"]  # AMQP_URL wins over its deprecated alias


def test_amqp_urls_is_a_deprecated_alias_of_amqp_url(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AMQP_URL", raising=False)
    monkeypatch.setenv("AMQP_URLS", "amqp://c/,amqp://d/")
    assert BrokerSettings().broker_urls == ["amqp://c/", "amqp://d/"]
    assert "AMQP_URLS is deprecated" in caplog.text
    assert "AMQP_URLS" not in BrokerSettings().model_dump(by_alias=True)
    with pytest.raises(ValueError, match="no broker"):
        _ = BrokerSettings(AMQP_URL=" , ").broker_urls


def test_the_overridden_attempt_method_still_exists() -> None:
    """ClusterConnection hooks aio-pika's private per-attempt method; an upgrade renaming it
    would silently stop the URL rotation."""
    assert callable(getattr(RobustConnection, _PARENT_ATTEMPT))


async def test_robust_connection_skips_a_dead_node(amqp_url: str) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    for urls in ([dead, amqp_url], [amqp_url, dead]):
        connection = await connect_cluster(urls, "test-failover")
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            assert queue.name
            assert str(connection.url).endswith(amqp_url.rsplit(":", 1)[1])
        finally:
            await connection.close()


async def test_no_node_answering_raises() -> None:
    dead = [f"amqp://guest:guest@127.0.0.1:{free_port()}/" for _ in range(2)]
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError):
        await connect_cluster(dead, "test-failover")
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError):
        await connect_any(dead, "test-failover")


async def test_plain_connection_skips_a_dead_node(amqp_url: str) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    connection = await connect_any([dead, amqp_url, dead], "test-failover")
    try:
        assert not connection.is_closed
    finally:
        await connection.close()


class Node:
    """A TCP forwarder standing for one broker node: `kill()` drops every connection through it
    and refuses new ones, as a node that died."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> "Node":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    def url(self, amqp_url: str) -> str:
        parts = urlsplit(amqp_url)
        return parts._replace(
            netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{self.port}"
        ).geturl()

    async def kill(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_a_node_dying_mid_stream_loses_no_confirmed_event(
    broker_settings: BrokerSettings, names: Names
) -> None:
    """Every publish is confirmed (none fails) although the node under the connection dies
    mid-stream: the connection moves to the other node and the lost message is sent again."""
    parts = urlsplit(broker_settings.amqp_url)
    nodes = [await Node((parts.hostname or "127.0.0.1", parts.port or 5672)).start() for _ in "ab"]
    settings = broker_settings.model_copy(
        update={"amqp_url": ",".join(n.url(broker_settings.amqp_url) for n in nodes)}
    )
    async with (
        tap(broker_settings, "sfail") as device,  # straight to the broker, not through a Node
        broker_connection(settings, "test-node-death") as conn,
    ):
        channel = await conn.channel(publisher_confirms=True)
        publisher = await Publisher(channel, names, settings).start()
        used = next(n for n in nodes if n.writers)
        sent: list[str] = []
        for i in range(200):
            event = make_event(
                "token", {"token": f"t{i}"}, session_id="sfail", run_id="r", seq=i + 1
            )
            pending = asyncio.ensure_future(publisher.publish(event))
            if i == 100:
                await used.kill()
            await asyncio.wait_for(pending, 20)
            sent.append(event.id)
        other = next(n for n in nodes if n is not used)
        assert other.writers, "never reconnected through the other node"
        seen: set[str] = set()
        while not set(sent) <= seen:
            seen.add((await device.next()).id)


async def test_a_cancelled_connect_leaves_nothing_reconnecting() -> None:
    """A caller cancelled while its connection attempt hangs (a node that accepts and never
    answers) must not leave aio-pika's reconnect task behind: it swallows cancels and would
    retry for ever, after the app stopped."""
    arrived = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        await reader.read()  # says nothing until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        attempt = asyncio.create_task(
            connect_cluster([f"amqp://guest:guest@127.0.0.1:{port}/"], "test-cancelled")
        )
        await asyncio.wait_for(arrived.wait(), 10)
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attempt
        left = [t for t in asyncio.all_tasks() if "connection_factory" in repr(t.get_coro())]
        assert left == []
    finally:
        server.close()
