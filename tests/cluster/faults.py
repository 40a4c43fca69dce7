"""What the cluster scenarios ask the nodes: which node leads a queue, which node a consumer's
connection is on (rabbitmqctl on a running node; slow, so only around faults)."""

import asyncio
import json

from scripts.cluster import Cluster, Node


def _running(cluster: Cluster) -> Node:
    return next(node for node in cluster.nodes if cluster.pid(node) is not None)


def _node_of_pid(cluster: Cluster, pid: str) -> Node:
    """An Erlang pid as rabbitmqctl prints it: `<sb2@localhost.1665...>`."""
    return cluster.node_named(pid.strip("<>").split(".")[0])


async def leader_of(cluster: Cluster, queue: str) -> Node:
    out = await asyncio.to_thread(
        cluster.ctl, _running(cluster), "list_queues", "name", "leader", "--formatter", "json"
    )
    for row in json.loads(out):
        if row["name"] == queue:
            return cluster.node_named(row["leader"])
    raise LookupError(f"no queue {queue}")


async def consumer_node(cluster: Cluster, queue: str) -> Node:
    """The node of the connection consuming `queue` (a gateway's device connection)."""
    out = await asyncio.to_thread(
        cluster.ctl,
        _running(cluster),
        "list_consumers",
        "queue_name",
        "channel_pid",
        "--formatter",
        "json",
    )
    for row in json.loads(out):
        if row["queue_name"] == queue:
            return _node_of_pid(cluster, row["channel_pid"])
    raise LookupError(f"nobody consumes {queue}")


async def restart(cluster: Cluster, node: Node) -> None:
    """Start a stopped or killed node again and wait until the whole cluster runs."""
    await asyncio.to_thread(cluster.start_node, node)
    await asyncio.to_thread(cluster.await_node, node)
    await asyncio.to_thread(cluster.wait_running)
