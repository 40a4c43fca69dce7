"""The clustered broker's deployment files agree with each other and with the code: the
docker-compose `cluster` profile (three nodes, classic config peer discovery, one cookie, the
services given every node), and infra/k8s's `RabbitmqCluster` with its policies. Static
checks: no Docker engine or Kubernetes cluster here."""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from switchboard_events import BrokerSettings

from tests.deploy.manifests import K8S, ROOT, compose, k8s, script_env

pytestmark = pytest.mark.timeout(60)

NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
APP_SERVICES = ("session", "gateway", "worker", "tools")
RABBITMQ = ROOT / "infra" / "rabbitmq"


def conf(text: str) -> dict[str, str]:
    """`key = value` lines of a rabbitmq.conf-style file (comments skipped)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def dotenv(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def urls(value: str) -> list[Any]:
    return [urlsplit(url) for url in value.split(",")]


def schema_keys() -> list[re.Pattern[str]] | None:
    """The config keys the installed RabbitMQ accepts (None when no server is installed)."""
    files = list(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/plugins/*/priv/schema/*"))
    if not files:
        return None
    found = re.findall(r'\{mapping,\s*"([^"]+)"', "".join(f.read_text() for f in files))
    return [re.compile(re.sub(r"\\\$[a-z_]+", "[^.]+", re.escape(key)) + "$") for key in found]


def test_compose_cluster_profile_nodes_join_each_other() -> None:
    services = compose()["services"]
    assert "profiles" not in services["rabbitmq"]  # `docker compose up` keeps one node
    cluster = conf((RABBITMQ / "cluster.conf").read_text())
    assert cluster["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {v for k, v in cluster.items() if k.startswith("cluster_formation.classic_config.")}
    assert listed == {f"rabbit@{services[node]['hostname']}" for node in NODES}
    assert {services[node]["hostname"] for node in NODES} == set(NODES)
    cookies = {services[node]["environment"]["RABBITMQ_ERLANG_COOKIE"] for node in NODES}
    assert len(cookies) == 1
    host_ports = set()
    for node in NODES:
        service = services[node]
        assert service["profiles"] == ["cluster"]
        assert service["image"] == services["rabbitmq"]["image"]
        mounts = service["volumes"]
        assert "./infra/rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro" in mounts
        assert set(services["rabbitmq"]["volumes"][:2]) <= set(mounts)  # same node config
        host_ports |= {port.rsplit(":", 1)[0] for port in service["ports"]}
    assert len(host_ports) == len(NODES)


def test_compose_services_wait_for_the_cluster_only_when_it_runs() -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        for node in NODES:
            rule = services[name]["depends_on"][node]
            assert rule == {"condition": "service_healthy", "required": False}, (name, node)


def test_cluster_env_gives_every_service_all_nodes_and_quorum_queues() -> None:
    env = dotenv(RABBITMQ / "cluster.env")
    services = compose()["services"]
    shared = compose()["x-env"]
    for key in env:  # interpolated into the shared environment, read by every service
        assert shared[key].startswith(f"${{{key}:-"), key
        for name in APP_SERVICES:
            assert key in script_env(services[name]["command"][0]), (name, key)
    addresses = urls(env["AMQP_URL"])
    assert [(u.hostname, u.port) for u in addresses] == [(node, 5672) for node in NODES]
    assert BrokerSettings(QUEUE_TYPE=env["QUEUE_TYPE"]).queue_type == "quorum"
    single = urls(shared["AMQP_URL"].split(":-", 1)[1].rstrip("}"))
    assert [(u.hostname, u.port) for u in single] == [("rabbitmq", 5672)]


def _cluster() -> dict[str, Any]:
    clusters = k8s("RabbitmqCluster")
    assert len(clusters) == 1
    return clusters[0]


def test_k8s_rabbitmq_cluster_has_three_replicas_and_the_node_config() -> None:
    cluster = _cluster()
    spec = cluster["spec"]
    assert spec["replicas"] == 3
    extra = conf(spec["rabbitmq"]["additionalConfig"])
    node = conf((RABBITMQ / "rabbitmq.conf").read_text())
    for key in ("heartbeat", "max_message_size", "consumer_timeout", "disk_free_limit.absolute"):
        assert extra[key] == node[key], key
    assert extra["vm_memory_high_watermark.relative"] == node["vm_memory_high_watermark.relative"]
    assert extra["cluster_partition_handling"] == "pause_minority"
    assert extra["queue_leader_locator"] == "balanced"
    assert k8s("ConfigMap")[0]["data"]["QUEUE_TYPE"] == "quorum"


def test_k8s_policies_are_the_definitions_policies() -> None:
    defs = json.loads((RABBITMQ / "definitions.json").read_text())
    wanted = {
        p["name"]: (p["vhost"], p["pattern"], p["apply-to"], p["priority"], p["definition"])
        for p in defs["policies"]
    }
    declared = {}
    for policy in k8s("Policy"):
        spec = policy["spec"]
        assert spec["rabbitmqClusterReference"]["name"] == _cluster()["metadata"]["name"]
        declared[spec["name"]] = (
            spec["vhost"],
            spec["pattern"],
            spec["applyTo"],
            spec["priority"],
            spec["definition"],
        )
    assert declared == wanted


def test_k8s_services_get_every_node_of_the_cluster() -> None:
    env = dotenv(K8S / "secrets.env.example")
    name = _cluster()["metadata"]["name"]
    replicas = _cluster()["spec"]["replicas"]
    hosts = [(u.hostname, u.port) for u in urls(env["AMQP_URL"])]
    assert hosts == [(f"{name}-server-{i}.{name}-nodes", 5672) for i in range(replicas)]


def test_cluster_config_keys_are_known_to_rabbitmq() -> None:
    patterns = schema_keys()
    if patterns is None:
        pytest.skip("no RabbitMQ server installed to read its config schema from")
    files = [
        (RABBITMQ / "cluster.conf").read_text(),
        _cluster()["spec"]["rabbitmq"]["additionalConfig"],
    ]
    for text in files:
        for key in conf(text):
            assert any(p.match(key) for p in patterns), key
