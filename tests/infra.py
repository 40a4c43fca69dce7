"""Where the test run's RabbitMQ and Postgres come from, and the test run's broker isolation
(databases, prefixes and processes are the harness's: `switchboard_stack`).

Order: `AMQP_URL` / `DATABASE_URL` from the environment; else testcontainers when a Docker
engine answers; else the local servers (guest@127.0.0.1:5672, postgres@127.0.0.1:5432).
"""

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

from switchboard_events import BrokerSettings
from switchboard_stack import isolated_broker as harness_broker
from switchboard_stack import to_asyncpg

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


@contextlib.asynccontextmanager
async def isolated_broker(
    amqp_url: str, prefix: str = "t", queue_type: str = "classic"
) -> AsyncIterator[BrokerSettings]:
    """The harness's isolated broker prefix with the test run's device buffer lifetime
    (processes get it through `broker_env`)."""
    async with harness_broker(amqp_url, prefix, TEST_DEVICE_BUFFER_TTL_S, queue_type) as settings:
        yield settings
