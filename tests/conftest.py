"""Shared fixtures: a real broker and database, isolated per run (and per test where needed)."""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from switchboard_events import BrokerSettings, Names
from switchboard_events.routing import names_from
from switchboard_stack import fresh_database

from tests.hermetic import scrub
from tests.infra import TEMPLATES, amqp_server, isolated_broker, migrated_database, postgres_server


def pytest_configure(config: pytest.Config) -> None:
    """Before any test: the caller's Switchboard settings leave the environment (hermetic.py)."""
    scrub(os.environ)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with amqp_server() as url:
        yield url


@pytest.fixture(scope="session")
async def postgres_admin_url() -> AsyncIterator[str]:
    with postgres_server() as url:
        try:
            yield url
        finally:
            await TEMPLATES.close()


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh database for one test at the migrations' head (a copy of the run's migrated
    template: the session service finds nothing to migrate), dropped afterwards."""
    async with migrated_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
async def empty_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh empty database for one test (no tables: for the migrations themselves)."""
    async with fresh_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
async def broker_settings(amqp_url: str) -> AsyncIterator[BrokerSettings]:
    """Broker settings with a prefix unique to this test; its shared names are deleted after."""
    async with isolated_broker(amqp_url) as settings:
        yield settings


@pytest.fixture
def names(broker_settings: BrokerSettings) -> Names:
    return names_from(broker_settings)


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate` until true (for state outside our process, e.g. the broker)."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(interval)
