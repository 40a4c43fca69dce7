"""One stack per module (its own database and broker prefix), with JWT_AUDIENCE configured."""

import contextlib
from collections.abc import AsyncIterator

import pytest
from switchboard_events import BrokerSettings

from tests.infra import isolated_broker, migrated_database
from tests.stack import Stack, running_stack, stack_installed

AUDIENCE = "switchboard"
SECURE_ENV = {"JWT_AUDIENCE": AUDIENCE}
"""The test tokens' audience; every limit is the shipped default."""


@contextlib.asynccontextmanager
async def isolated_stack(
    admin_url: str, amqp_url: str, env: dict[str, str]
) -> AsyncIterator[tuple[Stack, BrokerSettings]]:
    """A fresh database and broker prefix, the whole stack on them; all removed afterwards."""
    if not stack_installed():
        pytest.skip("services not installed")
    async with (
        migrated_database(admin_url) as database_url,
        isolated_broker(amqp_url) as broker,
        running_stack(database_url, broker, env) as stack,
    ):
        yield stack, broker


@pytest.fixture(scope="module")
async def secure(
    postgres_admin_url: str, amqp_url: str
) -> AsyncIterator[tuple[Stack, BrokerSettings]]:
    async with isolated_stack(postgres_admin_url, amqp_url, SECURE_ENV) as running:
        yield running
