"""One stack per module (its own database and broker prefix), with JWT_AUDIENCE configured."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from switchboard_events import BrokerSettings, broker_connection, declare_topology
from switchboard_events.routing import names_from

from tests.infra import run_token, with_database
from tests.stack import Stack, running_stack, stack_installed

AUDIENCE = "switchboard"
SECURE_ENV = {
    "JWT_AUDIENCE": AUDIENCE,
    "AUTH_TIMEOUT_S": "2",
    "MAX_FRAME_BYTES": "65536",
    "MAX_BAD_FRAMES": "10",
}


@contextlib.asynccontextmanager
async def isolated_stack(
    admin_url: str, amqp_url: str, env: dict[str, str]
) -> AsyncIterator[tuple[Stack, BrokerSettings]]:
    """A fresh database and broker prefix, the whole stack on them; all removed afterwards."""
    if not stack_installed():
        pytest.skip("services not installed")
    name = f"sb_test_{run_token()}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    broker = BrokerSettings(AMQP_URL=amqp_url, BROKER_PREFIX=f"t{run_token()}.")
    names = names_from(broker)
    async with broker_connection(broker, "test-setup") as conn:
        await declare_topology(await conn.channel(), names)
    try:
        async with running_stack(with_database(admin_url, name), broker, env) as stack:
            yield stack, broker
    finally:
        async with broker_connection(broker, "test-cleanup") as conn:
            channel = await conn.channel()
            for queue in (names.run_queue, names.tool_queue, names.persist_queue):
                await channel.queue_delete(queue)
            for exchange in (
                names.events_exchange,
                names.control_exchange,
                names.commands_exchange,
            ):
                await channel.exchange_delete(exchange)
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def secure(
    postgres_admin_url: str, amqp_url: str
) -> AsyncIterator[tuple[Stack, BrokerSettings]]:
    async with isolated_stack(postgres_admin_url, amqp_url, SECURE_ENV) as running:
        yield running
