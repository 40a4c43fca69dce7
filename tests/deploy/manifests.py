"""Reading the deployment files, and what the code says they must agree with."""

import argparse
import importlib
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"

SETTINGS = {
    "switchboard-gateway": "switchboard_gateway.settings:GatewaySettings",
    "switchboard-session": "switchboard_session.settings:SessionSettings",
    "switchboard-worker": "switchboard_orchestrator.settings:WorkerSettings",
    "switchboard-tools": "switchboard_orchestrator.settings:ToolSettings",
}
"""Console script -> the settings class it reads."""

APPS = {
    "switchboard-gateway": "switchboard_gateway.app:create_app",
    "switchboard-session": "switchboard_session.app:create_app",
}
"""Console scripts that serve HTTP -> their app factory."""


def load(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads, nested settings included."""
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            names |= env_names(kind)
        else:
            names.add(info.alias or name)
            choices = getattr(info.validation_alias, "choices", [])  # AMQP_URLS: an alias
            names |= {choice.upper() for choice in choices if isinstance(choice, str)}
    return names


def script_env(script: str) -> set[str]:
    return env_names(load(SETTINGS[script]))


def console_scripts() -> dict[str, str]:
    """Console script -> the service folder that declares it."""
    found = {}
    for pyproject in ROOT.glob("services/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        for script in project.get("scripts", {}):
            found[script] = pyproject.parent.name
    return found


class _Parsed(Exception):
    pass


def cli_defaults(script: str, patch: Callable[[Any, str, Any], None]) -> argparse.Namespace:
    """The parsed arguments a console script's main() sees when given none (it runs no further)."""
    parse = argparse.ArgumentParser.parse_args

    def spy(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> None:
        raise _Parsed(parse(self, [], namespace))

    patch(argparse.ArgumentParser, "parse_args", spy)
    main = _entry_point(script)
    try:
        main([])
    except _Parsed as parsed:
        return parsed.args[0]
    raise AssertionError(f"{script} never parsed its arguments")


def _entry_point(script: str) -> Callable[..., Any]:
    folder = console_scripts()[script]
    text = (ROOT / "services" / folder / "pyproject.toml").read_text()
    return load(tomllib.loads(text)["project"]["scripts"][script])


def routes(script: str) -> set[str]:
    """The HTTP paths the service's app serves (from its OpenAPI schema)."""
    app = load(APPS[script])(load(SETTINGS[script])())
    return set(app.openapi()["paths"])


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def k8s_docs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def k8s(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_docs() if doc["kind"] == kind]


def dotenv_keys(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def dockerfile(folder: str) -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined."""
    text = (ROOT / "services" / folder / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def port_in(url: str) -> int:
    match = re.search(r"://[^/:]+:(\d+)", url)
    assert match, f"no port in {url}"
    return int(match.group(1))


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None
