"""One real stack per conformance module (its own database and broker prefix), shipped defaults."""

from collections.abc import AsyncIterator

import pytest

from tests.stack import Stack, isolated_stack


@pytest.fixture(scope="module")
async def real_stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    """Session service, gateway, run and tool workers as processes, with no setting overridden
    beyond where to find the broker and database (tests/stack.py)."""
    async with isolated_stack(postgres_admin_url, amqp_url, "conf") as stack:
        yield stack
