"""Tests do not depend on the caller's environment: every variable a Switchboard settings class
reads is removed from `os.environ` before the first test, so the processes tests start (they
inherit it) and the settings tests build in-process see the shipped defaults plus what the test
sets itself. A developer who exported `GATEWAY_PORT` or `STREAM_SHARDS` (as the docs suggest for
`make run`) runs the same suite as CI.

Kept: `AMQP_URL` and `DATABASE_URL`, the documented way to point the suite at other servers
(`tests/infra.py`); every test passes them on explicitly.
"""

from collections.abc import MutableMapping

from pydantic_settings import BaseSettings

from tests.deploy.manifests import SETTINGS, env_names, load

OTHER_SETTINGS = (
    "switchboard_stack.devstack:DevstackSettings",
    "switchboard_edge.auth:AuthSettings",
    "bench.config:BenchSettings",
)
"""Settings classes not behind a console script in SETTINGS (make run, auth, the bench)."""

CLI_VARIABLES = frozenset({"SWITCHBOARD_URL", "SWITCHBOARD_TOKEN"})
"""Read by the SDK's CLI as defaults of its options."""

TEST_INPUTS = frozenset({"AMQP_URL", "DATABASE_URL"})


def service_variables() -> frozenset[str]:
    """Every environment name (upper case) the services, devstack, SDK CLI and bench read."""
    classes: list[type[BaseSettings]] = [
        load(spec) for spec in (*SETTINGS.values(), *OTHER_SETTINGS)
    ]
    names = {name.upper() for cls in classes for name in env_names(cls)}
    return frozenset(names | CLI_VARIABLES)


def scrub(environ: MutableMapping[str, str]) -> list[str]:
    """Remove the service variables (any case: settings ignore case) but the test inputs;
    the names removed."""
    drop = service_variables() - TEST_INPUTS
    removed = [key for key in environ if key.upper() in drop]
    for key in removed:
        del environ[key]
    return sorted(removed)
