"""The cluster suite: three RabbitMQ nodes of this machine's server, started once for the whole
session by the suite itself (scripts/cluster.py) and removed at its end. The machine's default
node (rabbit@localhost, port 5672, its cookie) is never touched.

Every test module here is marked `cluster` (`make test-cluster`; `make test` leaves them out).
"""

import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from switchboard_events import BrokerSettings

from scripts.cluster import SBIN, Cluster
from tests.infra import isolated_broker

PORT_BASES = range(5690, 5790, 10)
"""Where the suite's nodes may listen: base+1..3 (AMQP) and base+20001..3 (distribution);
apart from `make cluster-up`'s 5681.. so both can run at once."""


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base() -> int:
    for base in PORT_BASES:
        if all(_free(base + i) and _free(base + 20000 + i) for i in (1, 2, 3)):
            return base
    raise RuntimeError("no free ports for the cluster's nodes")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Three joined nodes sb1..sb3@localhost, running; stopped and deleted after the session."""
    if not (SBIN / "rabbitmq-server").exists():
        pytest.skip(f"no RabbitMQ server in {SBIN}")
    with tempfile.TemporaryDirectory(prefix="sb-cluster-") as directory:
        base = _free_base()
        # names of their own too: a node left running by an aborted run keeps its name
        nodes = Cluster(Path(directory) / "cluster", base_port=base, prefix=f"sb{base}_")
        try:
            nodes.up()
            yield nodes
        finally:
            nodes.down()


@pytest.fixture
async def cluster_broker(cluster: Cluster) -> AsyncIterator[BrokerSettings]:
    """Quorum topology under a fresh prefix, every node's URL in `AMQP_URL` (comma-separated).
    Every node must be running when a test starts (a test that stops one restarts it)."""
    cluster.wait_running()
    async with isolated_broker(",".join(cluster.urls), "c", queue_type="quorum") as settings:
        yield settings
