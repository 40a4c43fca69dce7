"""Fixtures for the run and tool workers' tests (real RabbitMQ, isolated per test)."""

from collections.abc import AsyncIterator

import pytest
from switchboard_events import BrokerSettings, Names, broker_connection
from switchboard_orchestrator.tools.server import ToolServer
from switchboard_orchestrator.worker import RunWorker

from tests.worker.harness import (
    Client,
    running_tools,
    running_worker,
    tool_settings,
    worker_settings,
)


@pytest.fixture
async def client(broker_settings: BrokerSettings, names: Names) -> AsyncIterator[Client]:
    async with broker_connection(broker_settings, "test-client") as connection:
        channel = await connection.channel()
        client = Client(channel, names, broker_settings)
        try:
            yield client
        finally:
            await client.close()


@pytest.fixture
async def tools(broker_settings: BrokerSettings) -> AsyncIterator[ToolServer]:
    async with running_tools(tool_settings(broker_settings)) as server:
        yield server


@pytest.fixture
async def worker(broker_settings: BrokerSettings) -> AsyncIterator[RunWorker]:
    async with running_worker(worker_settings(broker_settings)) as run_worker:
        yield run_worker
