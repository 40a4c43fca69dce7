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
    """The node that process `pid` (a gateway) reads `queue` (its shard's stream) through: a
    connection named `stream-reader-<queue>` (the StreamReader's) whose client port is one of
    the process's own sockets. (RabbitMQ 3.10's `list_consumers` leaves out stream consumers.)"""
    rows = await asyncio.to_thread(
        cluster.ctl,
        _running(cluster),
        "list_connections",
        "client_properties",
        "peer_port",
        "port",
        "--formatter",
        "json",
    )
    mine = {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr}
    for row in json.loads(rows):
        if _connection_name(row["client_properties"]) == f"stream-reader-{queue}" and (
            row["peer_port"] in mine
        ):
            return cluster.node_on_port(int(row["port"]))
    raise LookupError(f"process {pid} does not read {queue}")


def _connection_name(properties: list[list[object]]) -> str | None:
    """`connection_name` of rabbitmqctl's JSON client properties (`[key, type, value]` rows)."""
    return next((str(row[2]) for row in properties if row[0] == "connection_name"), None)


async def restart(cluster: Cluster, node: Node) -> None:
    """Start a stopped or killed node again and wait until the whole cluster runs."""
    await asyncio.to_thread(cluster.start_node, node)
    await asyncio.to_thread(cluster.await_node, node)
    await asyncio.to_thread(cluster.wait_running)
