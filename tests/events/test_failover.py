"""Several broker URLs: a process connects to one that answers and fails over to the next."""

import aio_pika
import pytest
from aio_pika import RobustConnection
from switchboard_events import BrokerSettings
from switchboard_events.connection import _PARENT_ATTEMPT, connect_any, connect_cluster

from tests.procs import free_port

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def test_urls_come_from_amqp_urls_or_a_comma_separated_amqp_url() -> None:
    one = BrokerSettings(AMQP_URL="amqp://a/ , amqp://b/")
    assert one.broker_urls == ["amqp://a/", "amqp://b/"]
    both = BrokerSettings(AMQP_URL="amqp://a/", AMQP_URLS="amqp://c/,amqp://d/")
    assert both.broker_urls == ["amqp://c/", "amqp://d/"]
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
