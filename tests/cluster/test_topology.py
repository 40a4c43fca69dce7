"""Quorum topology on the three-node cluster: types, arguments honoured, leaders spread."""

import asyncio
import json
import os
import signal

import aio_pika
import pytest
from switchboard_events import (
    BrokerSettings,
    Publisher,
    broker_connection,
    declare_device_queue,
    make_event,
    names_from,
)
from switchboard_events.topology import shared_names
from switchboard_protocol import new_id

from scripts.cluster import Cluster
from tests.cluster.faults import leader_of, restart

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


async def test_a_channel_first_publishing_after_the_leaders_death_is_renewed(
    cluster: Cluster, cluster_broker: BrokerSettings
) -> None:
    """RabbitMQ 3.10 builds a channel's client state for a quorum queue at its first publish
    to it, from the queue's recorded leader, and never renews it: a channel whose first publish
    comes after the leader's node died (before the election updates the record) has every
    publish to that queue nacked for its whole life. The Publisher renews its channel on a
    quorum nack, so its event is confirmed once a leader is elected, well inside
    PUBLISH_RETRY_S (the default, 30 s; without the renewal it fails after it)."""
    names = names_from(cluster_broker)
    session = new_id()
    async with broker_connection(cluster_broker, "test-renew-setup") as conn:
        queue = await declare_device_queue(
            await conn.channel(), names, cluster_broker, session, "phone"
        )
    leader = await leader_of(cluster, queue.name)
    elsewhere = next(node for node in cluster.nodes if node != leader)
    settings = cluster_broker.model_copy(update={"amqp_url": elsewhere.url})
    try:
        async with broker_connection(settings, "test-renew") as conn:
            channel = await conn.channel(publisher_confirms=True)
            publisher = await Publisher(channel, names, settings).start()
            pid = cluster.pid(leader)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # and publish at once, as a client reconnecting fast
            event = make_event("token", {"token": "t"}, session_id=session, run_id=new_id(), seq=1)
            await publisher.publish(event)  # PublishFailed after PUBLISH_RETRY_S if stuck
            reader = await (await conn.channel()).get_queue(queue.name, ensure=False)
            async with reader.iterator(no_ack=True) as messages:
                message = await asyncio.wait_for(anext(messages), 10)
            assert message.message_id == event.id
    finally:
        await asyncio.to_thread(cluster.kill, leader)  # waits until it is gone
        await restart(cluster, leader)
        async with broker_connection(cluster_broker, "test-renew-cleanup") as conn:
            await (await conn.channel()).queue_delete(queue.name)
