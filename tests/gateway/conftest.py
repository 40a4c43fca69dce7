"""One broker prefix, one stand-in session service and two gateway processes per test module."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from switchboard_events import BrokerSettings, broker_connection, declare_topology, new_id
from switchboard_events.routing import names_from

from tests.conftest import _delete_shared
from tests.gateway.helpers import AUTH, Emitter, Gateway, start_gateway
from tests.gateway.standin import FakeSession, StandIn, serve_standin
from tests.infra import run_token


@dataclass
class Stack:
    broker: BrokerSettings
    standin: StandIn
    a: Gateway
    b: Gateway
    emitter: Emitter

    def session(self, owner: str = "alice", **fields: object) -> str:
        sid = new_id()
        self.standin.sessions[sid] = FakeSession(owner=owner, **fields)  # type: ignore[arg-type]
        return sid

    async def gateway(self, **overrides: str) -> Gateway:
        return await start_gateway(self.broker, self.standin.url, **overrides)


@pytest.fixture(scope="module")
async def stack(amqp_url: str) -> AsyncIterator[Stack]:
    broker = BrokerSettings(
        AMQP_URL=amqp_url, BROKER_PREFIX=f"g{run_token()}.", DEVICE_BUFFER_TTL_S=300
    )
    names = names_from(broker)
    async with broker_connection(broker, "gateway-tests") as conn:
        await declare_topology(await conn.channel(), names)
        async with serve_standin(AUTH) as standin:
            a = await start_gateway(broker, standin.url)
            b = await start_gateway(broker, standin.url)
            try:
                yield Stack(broker, standin, a, b, Emitter(broker))
            finally:
                a.proc.stop()
                b.proc.stop()
        await _delete_shared(await conn.channel(), names)
