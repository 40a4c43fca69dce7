"""The AG-UI agent (Pydantic AI, its AG-UI adapter, a scripted FunctionModel) and the worker
fixtures (real RabbitMQ, isolated per test)."""

from collections.abc import AsyncIterator

import pytest

from tests.agui.agent_server import AgentServer, agent_server
from tests.worker.conftest import client, tools  # noqa: F401  (the workers' fixtures)


@pytest.fixture
async def agent() -> AsyncIterator[AgentServer]:
    async with agent_server() as server:
        yield server
