"""Where the test run's RabbitMQ and Postgres come from, and how a run isolates itself.

Order: `AMQP_URL` / `DATABASE_URL` from the environment; else testcontainers when a Docker
engine answers; else the local servers (guest@127.0.0.1:5672, postgres@127.0.0.1:5432).
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
from switchboard_events import (
    BrokerSettings,
    broker_connection,
    declare_topology,
    delete_topology,
    names_from,
)

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TEST_DEVICE_BUFFER_TTL_S = 60
"""How long a device queue made by a test outlives its last consumer (the shipped hour would
pile up durable queues on the shared broker)."""


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def amqp_server() -> Iterator[str]:
    if url := os.environ.get("AMQP_URL"):
        yield url
    elif docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3-management") as rabbit:
            params = rabbit.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
    else:
        yield LOCAL_AMQP


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """An admin URL (asyncpg driver) for a server where the run may create databases."""
    if url := os.environ.get("DATABASE_URL"):
        yield to_asyncpg(url)
    elif docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="asyncpg") as pg:
            yield pg.get_connection_url()
    else:
        yield LOCAL_DATABASE


def to_asyncpg(url: str) -> str:
    for plain in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def run_token() -> str:
    """A short id unique to this test run (names its database and broker prefix)."""
    return uuid.uuid4().hex[:10]


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, prefix: str = "sb_test") -> AsyncIterator[str]:
    """A new empty database (its URL), dropped on exit."""
    name = f"{prefix}_{run_token()}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def broker_env(settings: BrokerSettings) -> dict[str, str]:
    """The environment that puts a service process on `settings`' broker: URL, prefix and the
    test run's device buffer lifetime (every process that declares device queues needs it, or
    they outlive the run by the shipped hour)."""
    return {
        "AMQP_URL": settings.amqp_url,
        "BROKER_PREFIX": settings.broker_prefix,
        "QUEUE_TYPE": settings.queue_type,
        "DEVICE_BUFFER_TTL_S": str(settings.device_buffer_ttl_s),
    }


@contextlib.asynccontextmanager
async def isolated_broker(
    amqp_url: str, prefix: str = "t", queue_type: str = "classic"
) -> AsyncIterator[BrokerSettings]:
    """Broker settings under a fresh name prefix, topology declared; every shared queue and
    exchange of the prefix deleted on exit. Device buffers live 60 s (processes get it through
    `broker_env`), so a run leaves no pile of durable queues behind (they make a broker restart
    slow)."""
    settings = BrokerSettings(
        AMQP_URL=amqp_url,
        BROKER_PREFIX=f"{prefix}{run_token()}.",
        DEVICE_BUFFER_TTL_S=TEST_DEVICE_BUFFER_TTL_S,
        QUEUE_TYPE=queue_type,
    )
    names = names_from(settings)
    async with broker_connection(settings, "test-setup") as conn:
        await declare_topology(await conn.channel(), names, settings.queue_type)
    try:
        yield settings
    finally:
        async with broker_connection(settings, "test-cleanup") as conn:
            await delete_topology(await conn.channel(), names)
