"""The system under test: a fresh database, a unique broker prefix, and the service processes."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import httpx
from switchboard_events import BrokerSettings, declare_topology, delete_topology, names_from
from switchboard_events.auth import AuthSettings, issue_dev_token

from .config import BenchSettings
from .services import Service, free_port

BENCH_USER = "bench"


@dataclass
class Stack:
    broker: BrokerSettings
    session: Service
    session_url: str
    gateways: list[Service] = field(default_factory=list)
    gateway_urls: list[str] = field(default_factory=list)
    workers: list[Service] = field(default_factory=list)
    token: str = ""

    def ws_base(self, index: int) -> str:
        return self.gateway_urls[index % len(self.gateway_urls)].replace("http://", "ws://")

    async def create_sessions(self, count: int, client_id: str = "b") -> list[str]:
        """`count` new sessions of the bench user, created on the session service by the device
        that streams them (`client_id`), so no unread "default" buffer copies every event."""
        headers = {"Authorization": f"Bearer {self.token}"}
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=self.session_url, headers=headers) as client:

            async def one() -> str:
                async with gate:
                    body = {"agent_type": "personal", "client_id": client_id}
                    answer = await client.post("/ai/sessions", json=body)
                answer.raise_for_status()
                return str(answer.json()["id"])

            return list(await asyncio.gather(*(one() for _ in range(count))))


def _env(bench: BenchSettings, broker: BrokerSettings, database_url: str) -> dict[str, str]:
    return {
        "AMQP_URL": bench.amqp_url,
        "BROKER_PREFIX": broker.broker_prefix,
        "DEVICE_BUFFER_TTL_S": str(broker.device_buffer_ttl_s),
        "SWITCHBOARD_ENV": "dev",
        "DATABASE_URL": database_url,
        "RATE_LIMIT_SESSIONS_PER_MIN": "1000000",
        "RATE_LIMIT_MESSAGES_PER_MIN": "1000000",
        # The bench's one user stands for one user per session: its sessions run at once, and
        # its devices are many users' devices (each session stays within the per-session cap).
        "MAX_ACTIVE_RUNS_PER_USER": "1000000",
        "MAX_DEVICES_PER_USER": "1000000",
        "LOG_LEVEL": "warning",
    }


async def _fresh_database(bench: BenchSettings) -> str:
    admin = await asyncpg.connect(bench.postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{bench.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{bench.database}"')
    finally:
        await admin.close()
    base, _, _ = bench.postgres_url.rpartition("/")
    return f"{base}/{bench.database}"


async def _declare(broker: BrokerSettings) -> None:
    async with await aio_pika.connect(broker.amqp_url) as conn:
        await declare_topology(await conn.channel(), names_from(broker))


async def _cleanup_broker(broker: BrokerSettings) -> None:
    async with await aio_pika.connect(broker.amqp_url) as conn:
        await delete_topology(await conn.channel(), names_from(broker))


@contextlib.asynccontextmanager
async def running_stack(bench: BenchSettings, workers: int) -> AsyncIterator[Stack]:
    """Start session service, gateways (and run workers when `workers`); stop all on exit."""
    broker = BrokerSettings(
        AMQP_URL=bench.amqp_url,
        BROKER_PREFIX=f"bench{uuid.uuid4().hex[:8]}.",
        DEVICE_BUFFER_TTL_S=60,
    )
    await _declare(broker)
    env = _env(bench, broker, await _fresh_database(bench))
    port = free_port()
    stack = Stack(broker, Service("switchboard-session", ["--port", str(port)], env), "")
    stack.session_url = f"http://127.0.0.1:{port}"
    stack.token = issue_dev_token(BENCH_USER, AuthSettings())
    try:
        await _start(stack, env, bench.gateways, workers)
        yield stack
    finally:
        for service in [*stack.gateways, *stack.workers, stack.session]:
            service.stop()
        await _cleanup_broker(broker)


async def _start(stack: Stack, env: dict[str, str], gateways: int, workers: int) -> None:
    stack.session.start()
    await stack.session.wait_http(f"{stack.session_url}/ai/health")
    for _ in range(gateways):
        port = free_port()
        gw_env = {**env, "SESSION_URL": stack.session_url}
        stack.gateways.append(Service("switchboard-gateway", ["--port", str(port)], gw_env).start())
        stack.gateway_urls.append(f"http://127.0.0.1:{port}")
    for gateway, url in zip(stack.gateways, stack.gateway_urls, strict=True):
        await gateway.wait_http(f"{url}/ai/health")
    stack.workers = [Service("switchboard-worker", [], env).start() for _ in range(workers)]
    if workers:
        await _wait_consumers(stack.broker, workers)


async def _wait_consumers(broker: BrokerSettings, count: int, timeout: float = 60) -> None:
    """Until `count` run workers consume the run queue."""
    name = names_from(broker).run_queue
    async with asyncio.timeout(timeout), await aio_pika.connect(broker.amqp_url) as conn:
        channel = await conn.channel()
        while True:
            queue = await channel.declare_queue(name, passive=True)
            if (queue.declaration_result.consumer_count or 0) >= count:
                return
            await asyncio.sleep(0.1)
