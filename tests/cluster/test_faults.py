"""The cluster fault suite: a 3-gateway, 2-session-service, 2-worker stack on three nodes
(streams replicated on all three, work queues quorum) with 10 000 devices registered streams
through node faults; every confirmed event reaches every device (0 lost, 0 duplicated after
dedupe), devices resume by cursor (never `recovered: false`), and the broker's queue count does
not depend on the devices. Figures go to the ignored results file (`make reliability-report`
publishes them in docs/reliability.md)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from switchboard_stack import fresh_database

from scripts.cluster import Cluster
from tests.cluster.faults import consumer_node, leader_of, restart
from tests.cluster.registered import DEVICES, queue_count, register_devices
from tests.cluster.scenario import Outcome, Target, stream_through
from tests.cluster.stack import ClusterStack, cluster_stack
from tests.infra import isolated_broker
from tests.reliability.conftest import Recorder, figures
from tests.stack import stack_installed

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.e2e,
    pytest.mark.broker,
    pytest.mark.db,
    pytest.mark.timeout(600),
]

__all__ = ["figures"]

STOP_APP_S = 30
"""How long `rabbitmqctl stop_app` keeps one node out (the issue's partition-like stop)."""


@pytest.fixture(scope="module")
async def stack(cluster: Cluster, postgres_admin_url: str) -> AsyncIterator[ClusterStack]:
    if not stack_installed():
        pytest.skip("services not installed")
    cluster.wait_running()
    async with (
        fresh_database(postgres_admin_url, "sb_cluster") as database_url,
        isolated_broker(",".join(cluster.urls), "c", queue_type="quorum") as broker,
        cluster_stack(database_url, broker, gateways=3, sessions=2, workers=2) as running,
    ):
        before = await queue_count(cluster, cluster.nodes[0], broker.broker_prefix)
        await register_devices(database_url)
        yield running
        after = await queue_count(cluster, cluster.nodes[0], broker.broker_prefix)
        assert after == before, f"{DEVICES} registered devices made {after - before} queues"


def _check(outcome: Outcome, stack: ClusterStack) -> None:
    for name, proc in stack.processes.items():
        assert proc.proc is not None and proc.proc.poll() is None, f"{name} exited"
    assert outcome.missing == 0, f"{outcome.missing} confirmed events missing\n{stack.logs()}"
    assert outcome.figures.lost == 0, outcome.figures
    assert outcome.figures.duplicated == 0, outcome.figures
    assert outcome.unrecovered == 0, outcome.figures  # every resume by cursor recovered
    # the run itself streams through: one run_end, completed, every token in order (a worker
    # whose node died reconnects and goes on; its run must not be failed meanwhile)
    assert outcome.statuses == ["completed"] * len(outcome.statuses), outcome.figures


async def test_streams_through_killing_the_stream_leader(
    stack: ClusterStack, cluster: Cluster, figures: Recorder
) -> None:
    """The issue's "done when": 3 gateways, 2 session services, 2 workers, the leader of the
    session's shard stream killed: the gateways' readers reopen from their last offset + 1
    on another node, the publishers re-send what was not confirmed."""

    async def kill_leader(target: Target) -> str:
        node = await leader_of(cluster, target.stream)
        await asyncio.to_thread(cluster.kill, node)
        return f"SIGKILL of {node.name}, the leader of the session's shard stream"

    try:
        outcome = await stream_through(
            stack,
            kill_leader,
            scenario="Cluster: SIGKILL the session's shard stream leader node",
            tokens=3000,
            rate=200,
        )
    finally:
        await _restart_dead(cluster)
    _check(outcome, stack)
    figures("c1-kill-stream-leader", outcome.figures)  # figures of passing runs only


async def test_streams_through_killing_the_gateways_node(
    stack: ClusterStack, cluster: Cluster, figures: Recorder
) -> None:
    async def kill_consumers_node(target: Target) -> str:
        node = await consumer_node(cluster, target.stream, target.gateway_pid)
        await asyncio.to_thread(cluster.kill, node)
        return f"SIGKILL of {node.name}, the node the device's gateway reads its stream through"

    try:
        outcome = await stream_through(
            stack,
            kill_consumers_node,
            scenario="Cluster: SIGKILL the gateway's node",
            tokens=3000,
            rate=200,
        )
    finally:
        await _restart_dead(cluster)
    _check(outcome, stack)
    figures("c2-kill-gateway-node", outcome.figures)  # figures of passing runs only


async def test_rolling_restart_of_every_node(
    stack: ClusterStack, cluster: Cluster, figures: Recorder
) -> None:
    async def roll(_target: Target) -> str:
        for node in cluster.nodes:
            await asyncio.to_thread(cluster.stop_node, node)
            await restart(cluster, node)
        return "rolling restart: each node in turn stopped (rabbitmqctl stop) and started"

    try:
        outcome = await stream_through(
            stack,
            roll,
            scenario="Cluster: rolling restart of all three nodes",
            tokens=5000,
            rate=100,
            devices=3,
        )
    finally:
        await _restart_dead(cluster)
    _check(outcome, stack)
    figures("c3-rolling-restart", outcome.figures)  # figures of passing runs only


async def test_one_node_stopped_for_thirty_seconds(
    stack: ClusterStack, cluster: Cluster, figures: Recorder
) -> None:
    async def stop_app(target: Target) -> str:
        node = await leader_of(cluster, target.stream)
        await asyncio.to_thread(cluster.stop_app, node)
        await asyncio.sleep(STOP_APP_S)  # the fault's length, not a wait for an event
        await asyncio.to_thread(cluster.start_app, node)
        await asyncio.to_thread(cluster.wait_running)
        return f"rabbitmqctl stop_app of {node.name} (the stream leader) for {STOP_APP_S} s"

    try:
        outcome = await stream_through(
            stack,
            stop_app,
            scenario="Cluster: one node's app stopped for 30 s",
            tokens=3000,
            rate=100,
        )
    finally:
        await _restart_dead(cluster)
    _check(outcome, stack)
    figures("c4-stop-app-30s", outcome.figures)  # figures of passing runs only


async def _restart_dead(cluster: Cluster) -> None:
    for node in cluster.nodes:
        if cluster.pid(node) is None:
            await restart(cluster, node)
    await asyncio.to_thread(cluster.wait_running)
