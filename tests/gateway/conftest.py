"""Per test module: one broker prefix, one database, the real session service and run worker,
and two gateway processes. Tests that need an upstream that misbehaves use `standin.py`."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import (
    ServiceProcess,
    broker_env,
    free_port,
    running,
    services,
)

from tests.gateway.helpers import AUDIENCE, Emitter, Gateway, start_gateway, token
from tests.infra import isolated_broker, migrated_database

SESSION_ENV = {
    "SWITCHBOARD_ENV": "dev",
    "JWT_AUDIENCE": AUDIENCE,
    # One user ("alice") creates every session of the module, more than the shipped 30 a
    # minute; the per-user limits have their own tests (tests/session).
    "RATE_LIMIT_SESSIONS_PER_MIN": "10000",
    "RATE_LIMIT_MESSAGES_PER_MIN": "10000",
    "WORD_DELAY_S": "0.01",  # the stub model's pacing, not a delivery setting: shorter runs
}


@dataclass
class Stack:
    broker: BrokerSettings
    session_url: str
    a: Gateway
    b: Gateway
    emitter: Emitter
    session_proc: ServiceProcess

    async def session(self, owner: str = "alice", mode: str = "text") -> str:
        """A new session of `owner`, created through gateway a (the real session service)."""
        async with httpx.AsyncClient(base_url=self.a.http, timeout=10) as http:
            answer = await http.post(
                "/ai/sessions",
                json={"agent_type": "personal", "mode": mode},
                headers={"Authorization": f"Bearer {token(owner)}"},
            )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def end(self, session_id: str, owner: str = "alice") -> None:
        async with httpx.AsyncClient(base_url=self.a.http, timeout=10) as http:
            answer = await http.delete(
                f"/ai/sessions/{session_id}", headers={"Authorization": f"Bearer {token(owner)}"}
            )
        assert answer.status_code == 204, answer.text

    async def gateway(self, **overrides: str) -> Gateway:
        return await start_gateway(self.broker, self.session_url, **overrides)


@pytest.fixture(scope="module")
async def module_database(postgres_admin_url: str) -> AsyncIterator[str]:
    """A database for one test module (the session service migrates it on start)."""
    async with migrated_database(postgres_admin_url, "sb_gw") as url:
        yield url


@pytest.fixture(scope="module")
async def stack(amqp_url: str, module_database: str) -> AsyncIterator[Stack]:
    async with isolated_broker(amqp_url, "g") as broker:
        env = {**SESSION_ENV, **broker_env(broker), "DATABASE_URL": module_database}
        port = free_port()
        session_url = f"http://127.0.0.1:{port}"
        stage = [services.session("127.0.0.1", port, env), services.worker(env)]
        gateways: list[Gateway] = []
        async with running([stage]) as group:
            try:
                gateways = [await start_gateway(broker, session_url) for _ in range(2)]
                yield Stack(broker, session_url, *gateways, Emitter(broker), group["session"])
            finally:
                for gateway in gateways:
                    gateway.proc.stop()
