"""Two real stacks per module: one with the shipped defaults, one with a short approval
timeout and a tool that always needs approval (for the tests that need those, said there)."""

from collections.abc import AsyncIterator

import pytest

from tests.infra import isolated_broker, migrated_database
from tests.stack import Stack, running_stack, stack_installed

SHORT_TIMEOUT_S = 10
SHORT = {
    # the timeout test would wait the shipped 120 s otherwise; 10 s leaves the marked-tool
    # test's decision time to arrive on a busy machine (at 2 s it timed out first under load)
    "APPROVAL_TIMEOUT_S": str(SHORT_TIMEOUT_S),
    # nothing is marked by default: `echo` is marked here to test the setting
    "APPROVAL_REQUIRED_TOOLS": "echo",
}


async def _stack(amqp_url: str, admin_url: str, env: dict[str, str]) -> AsyncIterator[Stack]:
    if not stack_installed():
        pytest.skip("services not installed")
    async with (
        migrated_database(admin_url) as database_url,
        isolated_broker(amqp_url) as broker,
        running_stack(database_url, broker, env) as running,
    ):
        yield running


@pytest.fixture(scope="module")
async def stack(amqp_url: str, postgres_admin_url: str) -> AsyncIterator[Stack]:
    async for running in _stack(amqp_url, postgres_admin_url, {}):
        yield running


@pytest.fixture(scope="module")
async def short_stack(amqp_url: str, postgres_admin_url: str) -> AsyncIterator[Stack]:
    async for running in _stack(amqp_url, postgres_admin_url, SHORT):
        yield running
