"""Shared fixtures: a real broker and database, isolated per run (and per test where needed)."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from switchboard_events import BrokerSettings, Names, broker_connection, declare_topology
from switchboard_events.routing import names_from

from tests.infra import amqp_server, postgres_server, run_token, with_database


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with amqp_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh empty database for one test, dropped afterwards."""
    name = f"sb_test_{run_token()}"
    admin = await asyncpg.connect(_dsn(postgres_admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_admin_url, name)
    admin = await asyncpg.connect(_dsn(postgres_admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def broker_settings(amqp_url: str) -> AsyncIterator[BrokerSettings]:
    """Broker settings with a prefix unique to this test; its shared names are deleted after."""
    settings = BrokerSettings(
        AMQP_URL=amqp_url,
        BROKER_PREFIX=f"t{run_token()}.",
        DEVICE_BUFFER_TTL_S=60,
    )
    names = names_from(settings)
    async with broker_connection(settings, "test-setup") as conn:
        channel = await conn.channel()
        await declare_topology(channel, names)
    yield settings
    async with broker_connection(settings, "test-cleanup") as conn:
        channel = await conn.channel()
        await _delete_shared(channel, names)


async def _delete_shared(channel, names: Names) -> None:  # type: ignore[no-untyped-def]
    for queue in (names.run_queue, names.tool_queue, names.persist_queue):
        await channel.queue_delete(queue)
    for exchange in (names.events_exchange, names.control_exchange, names.commands_exchange):
        await channel.exchange_delete(exchange)


@pytest.fixture
def names(broker_settings: BrokerSettings) -> Names:
    return names_from(broker_settings)


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate` until true (for state outside our process, e.g. the broker)."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(interval)
