"""One real stack per conformance module (its own database and broker prefix), shipped defaults."""

from collections.abc import AsyncIterator

import pytest

from tests.infra import fresh_database, isolated_broker
from tests.stack import Stack, running_stack, stack_installed


@pytest.fixture(scope="module")
async def real_stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    """Session service, gateway, run and tool workers as processes, with no setting overridden
    beyond where to find the broker and database (tests/stack.py)."""
    if not stack_installed():
        pytest.skip("services not installed")
    async with (
        fresh_database(postgres_admin_url, "sb_conf") as database_url,
        isolated_broker(amqp_url, "c") as broker,
        running_stack(database_url, broker) as stack,
    ):
        yield stack
