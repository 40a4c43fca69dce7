"""The whole Switchboard stack as real processes for tests, on the one harness
(`switchboard_stack`): session service, gateway, run and tool workers.

Reuse: `from tests.stack import stack` in a conftest (it needs `database_url` and
`broker_settings`), or `async with running_stack(database_url, broker_settings) as s:`.
"""

import contextlib
import shutil
from collections.abc import AsyncIterator

import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import BIN, Stack
from switchboard_stack import running_stack as harness_stack

from tests.infra import isolated_broker, migrated_database

SCRIPTS = ("switchboard-session", "switchboard-gateway", "switchboard-worker", "switchboard-tools")
TEST_ENV = {"WORD_DELAY_S": "0.01"}
"""The stub model's pacing, not a delivery setting: shorter runs."""


def stack_installed() -> bool:
    return all((BIN / script).exists() or shutil.which(script) for script in SCRIPTS)


def running_stack(
    database_url: str,
    broker: BrokerSettings,
    extra_env: dict[str, str] | None = None,
    **replicas: int,
) -> contextlib.AbstractAsyncContextManager[Stack]:
    """Every service as its own process on free ports (shipped defaults but TEST_ENV);
    `replicas`: `gateways=`, `sessions=`, `workers=` of the harness's `running_stack`."""
    return harness_stack(database_url, broker, {**TEST_ENV, **(extra_env or {})}, **replicas)


@pytest.fixture
async def stack(database_url: str, broker_settings: BrokerSettings) -> AsyncIterator[Stack]:
    """Every service as its own process on free ports, isolated by database and prefix."""
    if not stack_installed():
        pytest.skip(f"services not installed yet: needs {', '.join(SCRIPTS)} in {BIN}")
    async with running_stack(database_url, broker_settings) as running:
        yield running


@contextlib.asynccontextmanager
async def isolated_stack(postgres_admin_url: str, amqp_url: str, tag: str) -> AsyncIterator[Stack]:
    """A whole stack on a database and broker prefix of its own (for module-scoped fixtures:
    one stack serves every test of a module); skips when the services are not installed."""
    if not stack_installed():
        pytest.skip(f"services not installed yet: needs {', '.join(SCRIPTS)} in {BIN}")
    async with (
        migrated_database(postgres_admin_url, f"sb_{tag}") as database_url,
        isolated_broker(amqp_url, tag[:1]) as broker,
        running_stack(database_url, broker) as running,
    ):
        yield running


__all__ = ["SCRIPTS", "Stack", "isolated_stack", "running_stack", "stack", "stack_installed"]
