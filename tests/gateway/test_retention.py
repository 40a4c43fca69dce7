"""A cursor whose event the stream no longer holds (retention passed) is not recovered: the
hello says `recovered: false`, the device gets the catch-up state and then the live tail.

This module's streams keep a few KB (STREAM_MAX_BYTES, STREAM_SEGMENT_BYTES) instead of the
shipped 1 GiB, so that retention passes within a test; every process of its stack is given
the same values (a stream redeclared with other arguments is refused)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from switchboard_events import BrokerSettings, broker_connection, declare_topology, names_from
from switchboard_events.topology import delete_topology
from switchboard_stack import broker_env, free_port, run_token, running, services

from tests.gateway.conftest import SESSION_ENV
from tests.gateway.helpers import Emitter, Gateway, connect, events, start_gateway, token

pytestmark = [pytest.mark.broker, pytest.mark.e2e]
RETENTION = {"STREAM_MAX_BYTES": "20000", "STREAM_SEGMENT_BYTES": "4000"}


@dataclass
class Small:
    broker: BrokerSettings
    session_url: str
    gateway: Gateway


@pytest.fixture(scope="module")
async def small(amqp_url: str, module_database: str) -> AsyncIterator[Small]:
    broker = BrokerSettings.model_validate(
        {"AMQP_URL": amqp_url, "BROKER_PREFIX": f"r{run_token()}.", **RETENTION}
    )
    names = names_from(broker)
    async with broker_connection(broker, "test-retention") as conn:
        await declare_topology(await conn.channel(), names, broker)
    env = {**SESSION_ENV, **broker_env(broker), **RETENTION, "DATABASE_URL": module_database}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        async with running([[services.session("127.0.0.1", port, env)]]):
            gateway = await start_gateway(broker, url, **RETENTION)
            try:
                yield Small(broker, url, gateway)
            finally:
                gateway.proc.stop()
    finally:
        async with broker_connection(broker, "test-retention") as conn:
            await delete_topology(await conn.channel(), names, broker)


@pytest.mark.timeout(90)
async def test_a_cursor_past_retention_is_not_recovered(small: Small) -> None:
    sid = await _session(small.gateway)
    ws, _ = await connect(small.gateway, sid, "old")
    emitter = Emitter(small.broker)
    await emitter.run(sid, 1)
    first = (await events(ws, 1))[0]
    await ws.close()
    recent, _ = await connect(small.gateway, sid, "recent")
    # ~70 KB in small batches (a pause every 5 events): older segments go, the last ones stay
    kept = await emitter.run(sid, 200, pause_every=5, pause_s=0.02, pad=300)
    seen = await events(recent, 190)
    await recent.close()
    fresh = await start_gateway(small.broker, small.session_url, **RETENTION)  # an empty ring
    try:
        again, hello = await connect(fresh, sid, "old", cursor=first["cursor"])
        assert hello["recovered"] is False and hello["resumed"] is False
        back, hello = await connect(fresh, sid, "recent", cursor=seen[-1]["cursor"])
        assert hello["recovered"] is True  # read back from the stream: still retained
        ids = await emitter.run(sid, 3)
        assert [e["id"] for e in await events(again, 3)] == ids  # live from there on
        assert [e["id"] for e in await events(back, 13)] == kept[190:] + ids
        await again.close()
        await back.close()
    finally:
        fresh.proc.stop()


async def _session(gateway: Gateway) -> str:
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        answer = await http.post(
            "/ai/sessions",
            json={"agent_type": "personal", "mode": "text"},
            headers={"Authorization": f"Bearer {token()}"},
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])
