"""What the cluster scenarios ask the nodes: which node leads a queue, which node a consumer's
connection is on (rabbitmqctl on a running node; slow, so only around faults)."""

import asyncio
import json

from scripts.cluster import Cluster, Node


def _running(cluster: Cluster) -> Node:
    return next(node for node in cluster.nodes if cluster.pid(node) is not None)


async def leader_of(cluster: Cluster, queue: str) -> Node:
    out = await asyncio.to_thread(
        cluster.ctl, _running(cluster), "list_queues", "name", "leader", "--formatter", "json"
    )
    for row in json.loads(out):
        if row["name"] == queue:
            return cluster.node_named(row["leader"])
    raise LookupError(f"no queue {queue}")


async def consumer_node(cluster: Cluster, queue: str) -> Node:
    """The node of the connection consuming `queue` (a gateway's device connection): the
    consumer's channel, whose name ends with the node's AMQP port (`a:p -> b:PORT (n)`)."""
    via = _running(cluster)
    consumers = await asyncio.to_thread(
        cluster.ctl, via, "list_consumers", "queue_name", "channel_pid", "--formatter", "json"
    )
    channel = next(
        row["channel_pid"] for row in json.loads(consumers) if row["queue_name"] == queue
    )
    channels = await asyncio.to_thread(
        cluster.ctl, via, "list_channels", "pid", "name", "--formatter", "json"
    )
    name = next(row["name"] for row in json.loads(channels) if row["pid"] == channel)
    port = int(name.split("->")[1].split()[0].rsplit(":", 1)[1])
    return cluster.node_on_port(port)


async def restart(cluster: Cluster, node: Node) -> None:
    """Start a stopped or killed node again and wait until the whole cluster runs."""
    await asyncio.to_thread(cluster.start_node, node)
    await asyncio.to_thread(cluster.await_node, node)
    await asyncio.to_thread(cluster.wait_running)
