"""Dockerfiles, docker-compose.yml and the Kubernetes manifests agree with the code: console
scripts, settings (every environment name is a real setting), ports, probes and routes."""

import json
import re
import tomllib
from typing import Any

import pytest
from switchboard_events import BrokerSettings, Names
from switchboard_events.routing import DEAD_LETTER_SOURCES
from switchboard_stack.devstack import DevstackSettings, plan

from tests.deploy.manifests import (
    APPS,
    K8S,
    ROOT,
    SETTINGS,
    cli_defaults,
    compose,
    console_scripts,
    dockerfile,
    dotenv_keys,
    k8s,
    k8s_docs,
    load,
    option,
    routes,
    script_env,
)

pytestmark = pytest.mark.timeout(60)

IMAGES = {
    "switchboard-gateway": "gateway",
    "switchboard-session": "session",
    "switchboard-orchestrator": "orchestrator-stub",
}
"""Image name -> the service folder whose Dockerfile builds it."""

APP_SERVICES = ("session", "gateway", "worker", "tools")


@pytest.fixture(scope="module")
def default_ports() -> dict[str, int]:
    patch = pytest.MonkeyPatch()
    try:
        return {script: cli_defaults(script, patch.setattr).port for script in APPS}
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def app_routes() -> dict[str, set[str]]:
    return {script: routes(script) for script in APPS}


def test_every_console_script_has_its_settings_class() -> None:
    assert set(console_scripts()) == set(SETTINGS)
    for script in SETTINGS:
        assert script_env(script) >= {"AMQP_URL", "BROKER_PREFIX", "QUEUE_TYPE"}


def test_devstack_uses_the_real_scripts_and_default_ports(default_ports: dict[str, int]) -> None:
    settings = DevstackSettings()
    assert default_ports == {
        "switchboard-gateway": settings.gateway_port,
        "switchboard-session": settings.session_port,
    }
    services = [service for stage in plan(settings) for service in stage]
    assert {s.script for s in services} == set(SETTINGS)
    for service in services:
        assert set(service.env) - {"PYTHONUNBUFFERED", "SWITCHBOARD_ENV"} <= script_env(
            service.script
        )


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfile(image: str, default_ports: dict[str, int]) -> None:
    folder = IMAGES[image]
    steps = dockerfile(folder)
    args = {word: rest for word, rest in steps}  # the last of each instruction
    assert args["FROM"] == "python:3.11-slim"
    assert ("COPY", "constraints.txt ./") in steps
    install = next(rest for word, rest in steps if word == "RUN" and "pip install" in rest)
    assert (
        "-c constraints.txt ./libs/protocol ./libs/events ./libs/edge ./libs/runtime ./services/"
        + folder
        in install
    )
    assert args["USER"] not in ("root", "0")
    command = json.loads(args["CMD"])
    assert console_scripts()[command[0]] == folder
    if command[0] in APPS:
        port = int(option(command, "--port") or 0)
        assert port == default_ports[command[0]] == int(args["EXPOSE"])
        assert f"127.0.0.1:{port}/ai/health" in args["HEALTHCHECK"]
    else:
        assert "HEALTHCHECK" not in args and "EXPOSE" not in args


def test_compose_services_use_real_settings_ports_and_probes(
    default_ports: dict[str, int], app_routes: dict[str, set[str]]
) -> None:
    services = compose()["services"]
    shared = compose()["x-env"]
    used = set().union(*(script_env(services[name]["command"][0]) for name in APP_SERVICES))
    assert set(shared) <= used  # every shared name is some service's setting
    for name in APP_SERVICES:
        service = services[name]
        command = service["command"]
        script = command[0]
        assert console_scripts()[script] == IMAGES[service["image"]], name
        assert service["build"]["dockerfile"] == f"services/{IMAGES[service['image']]}/Dockerfile"
        own = set(service["environment"]) - set(shared)
        assert own <= script_env(script), name
        for dependency, rule in service["depends_on"].items():
            wanted = (
                "service_healthy" if "healthcheck" in services[dependency] else "service_started"
            )
            assert rule["condition"] == wanted, (name, dependency)
        if script in APPS:
            port = default_ports[script]
            assert option(command, "--port") == str(port)
            probe = " ".join(service["healthcheck"]["test"])
            assert f"127.0.0.1:{port}/ai/health" in probe and "/ai/health" in app_routes[script]
    assert services["gateway"]["ports"] == [f"{default_ports['switchboard-gateway']}:8000"]


def test_compose_urls_point_at_compose_services(default_ports: dict[str, int]) -> None:
    services = compose()["services"]
    env = services["gateway"]["environment"]
    session_port = default_ports["switchboard-session"]
    assert env["SESSION_URL"] == f"http://session:{session_port}"
    assert "@rabbitmq:5672/" in env["AMQP_URL"]
    postgres = services["postgres"]["environment"]
    user, db = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
    assert re.fullmatch(
        rf"postgresql\+asyncpg://{user}(:[^@]*)?@postgres:5432/{db}", env["DATABASE_URL"]
    )


def test_rabbitmq_container_loads_the_definitions_it_is_configured_with() -> None:
    conf = (ROOT / "infra/rabbitmq/rabbitmq.conf").read_text()
    target = re.search(r"^load_definitions\s*=\s*(\S+)", conf, re.M)
    assert target
    mounts = compose()["services"]["rabbitmq"]["volumes"]
    assert f"./infra/rabbitmq/definitions.json:{target.group(1)}:ro" in mounts
    assert "./infra/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro" in mounts


def test_rabbitmq_definitions_match_the_topology_code_declares() -> None:
    """The commands and control exchanges and the work queues, as `declare_topology` declares
    them with no prefix; no event exchange, no store queue: events live on the shard streams,
    which the services declare with their retention settings (none are predeclared)."""
    defs = json.loads((ROOT / "infra/rabbitmq/definitions.json").read_text())
    names = Names()
    exchanges = {e["name"]: e["type"] for e in defs["exchanges"]}
    assert exchanges == {names.control_exchange: "topic", names.commands_exchange: "direct"}
    for item in defs["exchanges"] + defs["queues"]:  # any difference fails declare_topology
        assert item["durable"] and not item["auto_delete"] and item["arguments"] == {}
    assert {q["name"] for q in defs["queues"]} == {names.run_queue, names.tool_queue}
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in defs["bindings"]}
    commands = names.commands_exchange
    assert bindings == {(commands, names.run_queue, "run"), (commands, names.tool_queue, "tool")}


def test_no_policy_touches_the_shard_streams() -> None:
    """A policy's max-length or expires on a stream would override its retention settings."""
    defs = json.loads((ROOT / "infra/rabbitmq/definitions.json").read_text())
    shards = BrokerSettings().stream_shards
    for policy in defs["policies"]:
        pattern = re.compile(policy["pattern"])
        for names in (Names(), Names("t0123456789.")):
            assert not any(pattern.search(stream) for stream in names.streams(shards)), policy
    work = next(p for p in defs["policies"] if p["name"] == "work-queues")
    pattern = re.compile(work["pattern"])
    for names in (Names(), Names("t0123456789.")):
        assert pattern.search(names.run_queue) and pattern.search(names.tool_queue)


def test_dead_letter_policy_matches_dead_letter_queues_and_defaults() -> None:
    defs = json.loads((ROOT / "infra/rabbitmq/definitions.json").read_text())
    policy = next(p for p in defs["policies"] if p["name"] == "dead-letters")
    pattern = re.compile(policy["pattern"])
    for names in (Names(), Names("t0123456789.")):
        for source in DEAD_LETTER_SOURCES:
            assert pattern.search(names.dead_letter_queue(source))
        for queue in (names.run_queue, names.tool_queue, *names.streams(4)):
            assert not pattern.search(queue)
    assert policy["definition"] == {
        "max-length": BrokerSettings().dead_letter_max,
        "overflow": "drop-head",
    }


def test_k8s_configmap_pins_the_stream_settings_at_their_defaults() -> None:
    """Every process must agree on the shard count (a session's shard is crc32 % K)."""
    configmap = k8s("ConfigMap")[0]["data"]
    defaults = BrokerSettings()
    assert int(configmap["STREAM_SHARDS"]) == defaults.stream_shards
    assert int(configmap["STREAM_MAX_AGE_S"]) == defaults.stream_max_age_s
    assert int(configmap["STREAM_MAX_BYTES"]) == defaults.stream_max_bytes


def _containers() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for deployment in k8s("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            found.append((deployment["metadata"]["name"], container))
    return found


def test_k8s_containers_run_real_scripts_with_real_settings() -> None:
    configmap = k8s("ConfigMap")[0]["data"]
    secret_keys = dotenv_keys(K8S / "secrets.env.example")
    config_users: set[str] = set()
    for name, container in _containers():
        script = container["command"][0]
        assert console_scripts()[script] == IMAGES[container["image"]], name
        known = script_env(script)
        for item in container.get("env", []):
            assert item["name"] in known, (name, item["name"])
            if "valueFrom" in item:
                assert item["valueFrom"]["secretKeyRef"]["key"] in secret_keys
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert secret_keys <= known, name
            else:
                config_users |= known
    assert set(configmap) <= config_users
    assert configmap["SWITCHBOARD_ENV"] == "prod" and configmap["QUEUE_TYPE"] == "quorum"


def test_k8s_settings_values_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    configmap = k8s("ConfigMap")[0]["data"]
    for _, container in _containers():
        script = container["command"][0]
        for var in script_env(script):
            monkeypatch.delenv(var, raising=False)
        for var, value in configmap.items():
            monkeypatch.setenv(var, value)
        for item in container.get("env", []):
            if "value" in item:
                monkeypatch.setenv(item["name"], item["value"])
        load(SETTINGS[script])()  # raises on a value its settings refuse


def test_k8s_probes_ports_and_services(
    default_ports: dict[str, int], app_routes: dict[str, set[str]]
) -> None:
    services = {s["metadata"]["name"]: s for s in k8s("Service")}
    for name, container in _containers():
        script = container["command"][0]
        if script not in APPS or "ports" not in container:
            continue
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": default_ports[script]}
        assert option(container["command"], "--port") == str(ports["http"])
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] in app_routes[script] and get["port"] == "http", (name, probe)
        assert services[name]["spec"]["ports"][0]["port"] == ports["http"]
    gateway_url = k8s("ConfigMap")[0]["data"]["SESSION_URL"]
    assert gateway_url == f"http://session:{default_ports['switchboard-session']}"


def test_k8s_autoscalers_budgets_and_kustomization() -> None:
    deployments = {d["metadata"]["name"]: d for d in k8s("Deployment")}
    assert set(deployments) == set(APP_SERVICES)
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in k8s("HorizontalPodAutoscaler")}
    assert {"gateway", "worker", "tools"} <= scaled <= set(deployments)
    for budget in k8s("PodDisruptionBudget"):
        target = deployments[budget["metadata"]["name"]]
        labels = target["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    kustomization = next(doc for file, doc in k8s_docs() if file == "kustomization.yaml")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert {i["name"] for i in kustomization["images"]} == set(IMAGES)
    generated = kustomization["secretGenerator"][0]
    assert generated["name"] == "switchboard-secrets" and generated["envs"] == ["secrets.env"]


@pytest.mark.parametrize("folder", sorted(IMAGES.values()))
def test_images_ship_every_package_file(folder: str) -> None:
    """Docker installs the services non-editable: data files need package-data entries."""
    pyproject = tomllib.loads((ROOT / "services" / folder / "pyproject.toml").read_text())
    for package_dir in (ROOT / "services" / folder / "src").iterdir():
        if not (package_dir / "__init__.py").exists():
            continue
        patterns = pyproject["tool"]["setuptools"].get("package-data", {}).get(package_dir.name, [])
        shipped = {path for pattern in patterns for path in package_dir.glob(pattern)}
        for path in package_dir.rglob("*"):
            relative = path.relative_to(package_dir).as_posix()
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in relative:
                continue
            assert path in shipped, f"{folder}: {relative} is not in package-data"
