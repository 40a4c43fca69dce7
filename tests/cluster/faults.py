"""What the cluster scenarios ask the nodes: which node leads a queue or stream, which node a
process's consumer of a stream is connected to (rabbitmqctl on a running node; slow, so only
around faults)."""

import asyncio
import json

import psutil

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


async def consumer_node(cluster: Cluster, queue: str, pid: int) -> Node:
    """The node that process `pid` (a gateway) consumes `queue` (its shard's stream) through:
    the consumer channels of the queue, named `client:port -> node:PORT (n)`, whose client port
    is one of the process's own sockets."""
    via = _running(cluster)
    consumers = await asyncio.to_thread(
        cluster.ctl, via, "list_consumers", "queue_name", "channel_pid", "--formatter", "json"
    )
    pids = {row["channel_pid"] for row in json.loads(consumers) if row["queue_name"] == queue}
    channels = await asyncio.to_thread(
        cluster.ctl, via, "list_channels", "pid", "name", "--formatter", "json"
    )
    mine = {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr}
    for row in json.loads(channels):
        if row["pid"] not in pids:
            continue
        client, node = (side.strip() for side in row["name"].split("->"))
        if int(client.rsplit(":", 1)[1]) in mine:
            return cluster.node_on_port(int(node.split()[0].rsplit(":", 1)[1]))
    raise LookupError(f"process {pid} does not consume {queue}")


async def restart(cluster: Cluster, node: Node) -> None:
    """Start a stopped or killed node again and wait until the whole cluster runs."""
    await asyncio.to_thread(cluster.start_node, node)
    await asyncio.to_thread(cluster.await_node, node)
    await asyncio.to_thread(cluster.wait_running)
