"""The system under test on the one harness (`switchboard_stack`): a throwaway database, a
unique broker prefix, the session service, gateways and (in worker mode) run workers."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import psutil
from switchboard_edge.auth import AuthSettings, issue_dev_token
from switchboard_events import BrokerSettings
from switchboard_stack import ServiceProcess, fresh_database, isolated_broker
from switchboard_stack import Stack as HarnessStack
from switchboard_stack import running_stack as harness_stack

from .config import BenchSettings

BENCH_USER = "bench"


def ps(service: ServiceProcess) -> psutil.Process:
    """The OS process of `service` (for its CPU and memory figures)."""
    assert service.proc is not None
    return psutil.Process(service.proc.pid)


@dataclass
class Stack:
    harness: HarnessStack
    token: str
    """The bench user's token (the idle devices' sessions)."""
    tokens: dict[str, str] = field(default_factory=dict)
    """The token of each session created with a user of its own (`create_sessions`)."""

    def token_of(self, session_id: str) -> str:
        """The token of the user who owns `session_id`."""
        return self.tokens.get(session_id, self.token)

    @property
    def broker(self) -> BrokerSettings:
        return self.harness.broker

    @property
    def session_url(self) -> str:
        return self.harness.session_url

    @property
    def session(self) -> ServiceProcess:
        return self.harness.processes["session"]

    @property
    def gateways(self) -> list[ServiceProcess]:
        return self.harness.named("gateway")

    @property
    def workers(self) -> list[ServiceProcess]:
        return self.harness.named("worker")

    def ws_base(self, index: int) -> str:
        urls = self.harness.gateway_urls
        return urls[index % len(urls)].replace("http://", "ws://")

    async def create_sessions(
        self, count: int, client_id: str = "b", *, own_users: bool = False
    ) -> list[str]:
        """`count` new sessions, created on the session service by the device that streams them
        (`client_id`): of the bench user, or (`own_users`) each of a user of its own, as
        sessions of different people are (what one user's requests share: rate limit rows,
        the run lock serializing its run starts, is then not shared)."""
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=self.session_url) as client:

            async def one() -> str:
                token = self.token
                if own_users:
                    token = issue_dev_token(f"{BENCH_USER}-{uuid.uuid4().hex[:12]}", AuthSettings())
                async with gate:
                    body = {"agent_type": "personal", "client_id": client_id}
                    headers = {"Authorization": f"Bearer {token}"}
                    answer = await client.post("/ai/sessions", json=body, headers=headers)
                answer.raise_for_status()
                session_id = str(answer.json()["id"])
                if own_users:
                    self.tokens[session_id] = token
                return session_id

            return list(await asyncio.gather(*(one() for _ in range(count))))


BENCH_ENV = {
    "RATE_LIMIT_SESSIONS_PER_MIN": "1000000",
    "RATE_LIMIT_MESSAGES_PER_MIN": "1000000",
    # The load steps give each session a user of its own; the idle devices' sessions are the
    # bench user's, whose devices stand for many users' (each session within its own cap).
    "MAX_ACTIVE_RUNS_PER_USER": "1000000",
    "MAX_DEVICES_PER_USER": "1000000",
    "RATE_LIMIT_CONNECTS_PER_MIN": "1000000",
}


@contextlib.asynccontextmanager
async def running_stack(bench: BenchSettings, workers: int) -> AsyncIterator[Stack]:
    """Start session service, gateways (and run workers when `workers`); stop all on exit, then
    drop the database and the broker prefix."""
    async with (
        isolated_broker(bench.amqp_url, "bench", bench.queue_type) as broker,
        fresh_database(bench.postgres_url, bench.database) as database_url,
        harness_stack(
            database_url, broker, BENCH_ENV, gateways=bench.gateways, workers=workers, tools=False
        ) as harness,
    ):
        yield Stack(harness, issue_dev_token(BENCH_USER, AuthSettings()))
