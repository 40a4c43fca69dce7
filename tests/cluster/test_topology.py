"""Quorum topology on the three-node cluster: types, arguments honoured, leaders spread."""

import asyncio
import json

import aio_pika
import pytest
from switchboard_events import BrokerSettings, broker_connection, declare_device_queue, names_from
from switchboard_events.topology import shared_names
from switchboard_protocol import new_id

from scripts.cluster import Cluster
from tests.cluster.faults import leader_of

pytestmark = [pytest.mark.cluster, pytest.mark.broker, pytest.mark.timeout(300)]


async def _queues(cluster: Cluster) -> dict[str, dict[str, object]]:
    out = await asyncio.to_thread(
        cluster.ctl, cluster.nodes[0], "list_queues", "name", "type", "arguments",
        "--formatter", "json",
    )  # fmt: skip
    return {row["name"]: row for row in json.loads(out)}


async def test_shared_and_device_queues_are_quorum_with_leaders_spread(
    cluster: Cluster, cluster_broker: BrokerSettings
) -> None:
    names = names_from(cluster_broker)
    session = new_id()
    async with broker_connection(cluster_broker, "test-topology") as conn:
        channel = await conn.channel()
        devices = [
            await declare_device_queue(channel, names, cluster_broker, session, f"d{i}")
            for i in range(6)
        ]
        try:
            queues = await _queues(cluster)
            shared, _ = shared_names(names)
            for name in [*shared, *(q.name for q in devices)]:
                assert queues[name]["type"] == "quorum", queues[name]
            leaders = {(await leader_of(cluster, q.name)).name for q in devices}
            assert len(leaders) >= 2, f"every leader on {leaders}: not spread"
        finally:
            for queue in devices:
                await channel.queue_delete(queue.name)


async def test_quorum_device_queue_drops_head_and_has_one_active_consumer(
    cluster_broker: BrokerSettings,
) -> None:
    settings = cluster_broker.model_copy(update={"device_buffer_max_events": 3})
    names = names_from(settings)
    async with broker_connection(settings, "test-quorum-args") as conn:
        channel = await conn.channel(publisher_confirms=True)
        queue = await declare_device_queue(channel, names, settings, new_id(), "phone")
        try:
            for i in range(5):
                await channel.default_exchange.publish(
                    aio_pika.Message(f"m{i}".encode()), queue.name
                )
            first, second = asyncio.Queue[bytes](), asyncio.Queue[bytes]()

            async def into(
                box: asyncio.Queue[bytes], message: aio_pika.abc.AbstractIncomingMessage
            ) -> None:
                await box.put(message.body)  # never acked: stays with this consumer

            other = await conn.channel()
            await queue.consume(lambda m: into(first, m), exclusive=True)
            got = [await asyncio.wait_for(first.get(), 10) for _ in range(3)]
            assert got == [b"m2", b"m3", b"m4"]  # the length cap dropped the oldest
            again = await other.get_queue(queue.name, ensure=False)
            await again.consume(lambda m: into(second, m), exclusive=True)  # accepted: waits
            for i in range(4):
                await channel.default_exchange.publish(
                    aio_pika.Message(f"n{i}".encode()), queue.name
                )
            later = [await asyncio.wait_for(first.get(), 10) for _ in range(4)]
            assert later == [b"n0", b"n1", b"n2", b"n3"]
            assert second.empty()  # single active consumer: the second got none of them
        finally:
            await channel.queue_delete(queue.name)
