"""The topology on the three-node cluster: the K shard streams replicated on every node with
leaders spread, the work queues quorum; publishing and reading a stream through its leader's
death."""

import asyncio
import json
import os
import signal

import pytest
from switchboard_events import BrokerSettings, Publisher, broker_connection, make_event, names_from
from switchboard_events.routing import shard_of
from switchboard_events.topology import shared_names
from switchboard_protocol import new_id

from scripts.cluster import Cluster
from tests.cluster.faults import leader_of, restart
from tests.tap import tap

pytestmark = [pytest.mark.cluster, pytest.mark.broker, pytest.mark.timeout(300)]


async def _queues(cluster: Cluster) -> dict[str, dict[str, object]]:
    out = await asyncio.to_thread(
        cluster.ctl, cluster.nodes[0], "list_queues", "name", "type", "members",
        "--formatter", "json",
    )  # fmt: skip
    return {row["name"]: row for row in json.loads(out)}


async def test_streams_on_every_node_with_leaders_spread_and_work_queues_quorum(
    cluster: Cluster, cluster_broker: BrokerSettings
) -> None:
    names = names_from(cluster_broker)
    queues = await _queues(cluster)
    streams = names.streams(cluster_broker.stream_shards)
    for name in streams:
        assert queues[name]["type"] == "stream", queues[name]
        assert len(queues[name]["members"]) == len(cluster.nodes), queues[name]  # type: ignore[arg-type]
    shared, _ = shared_names(names, cluster_broker.stream_shards)
    for name in set(shared) - set(streams):
        assert queues[name]["type"] == "quorum", queues[name]
    leaders = {(await leader_of(cluster, name)).name for name in streams}
    assert len(leaders) >= 2, f"every stream leader on {leaders}: not spread"


async def test_a_channel_first_publishing_after_the_leaders_death_is_renewed(
    cluster: Cluster, cluster_broker: BrokerSettings
) -> None:
    """A channel whose first publish to a shard stream comes right after the stream leader's
    node died (before a new leader is elected) may be nacked or lose its writer; the Publisher
    renews its channel and sends again, so the event is confirmed once a leader is elected,
    well inside PUBLISH_RETRY_S (the default, 30 s), and a stream reader that was on the
    stream gets it (it reopens from its last offset + 1)."""
    names = names_from(cluster_broker)
    session = new_id()
    stream = names.stream(shard_of(session, cluster_broker.stream_shards))
    leader = await leader_of(cluster, stream)
    elsewhere = next(node for node in cluster.nodes if node != leader)
    settings = cluster_broker.model_copy(update={"amqp_url": elsewhere.url})
    try:
        async with (
            tap(settings, session) as device,
            broker_connection(settings, "test-renew") as conn,
        ):
            channel = await conn.channel(publisher_confirms=True)
            publisher = await Publisher(channel, names, settings).start()
            pid = cluster.pid(leader)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # and publish at once, as a client reconnecting fast
            event = make_event("token", {"token": "t"}, session_id=session, run_id=new_id(), seq=1)
            await publisher.publish(event)  # PublishFailed after PUBLISH_RETRY_S if stuck
            assert (await device.next(30)).id == event.id  # the reader moved on, from its offset
    finally:
        await asyncio.to_thread(cluster.kill, leader)  # waits until it is gone
        await restart(cluster, leader)
