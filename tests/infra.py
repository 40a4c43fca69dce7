"""Where the test run's RabbitMQ and Postgres come from, the test run's migrated database
template, and its broker isolation (databases, prefixes and processes are the harness's:
`switchboard_stack`).

Order: `AMQP_URL` / `DATABASE_URL` from the environment; else testcontainers when a Docker
engine answers; else the local servers (guest@127.0.0.1:5672, postgres@127.0.0.1:5432).
"""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator

from switchboard_events import BrokerSettings
from switchboard_stack import (
    fresh_database,
    run_token,
    throwaway_database,
    to_asyncpg,
    with_database,
)
from switchboard_stack import isolated_broker as harness_broker

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


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
    """The harness's isolated broker prefix (processes get it through `broker_env`)."""
    async with harness_broker(amqp_url, prefix, queue_type) as settings:
        yield settings


class Templates:
    """The run's migrated template database per server: made and migrated to head the first time
    a test asks for a database, copied (CREATE DATABASE ... TEMPLATE) for every test and stack,
    dropped when the run ends (`close`). A copy costs a fraction of a migration."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.lock = asyncio.Lock()
        self.exits = contextlib.AsyncExitStack()

    async def name(self, admin_url: str) -> str:
        async with self.lock:
            if admin_url not in self.names:
                from switchboard_session.migrate import prestart

                name = f"sb_template_{run_token()}"
                await self.exits.enter_async_context(throwaway_database(admin_url, name))
                await prestart(with_database(admin_url, name))
                self.names[admin_url] = name
            return self.names[admin_url]

    async def close(self) -> None:
        await self.exits.aclose()
        self.names.clear()


TEMPLATES = Templates()


@contextlib.asynccontextmanager
async def migrated_database(admin_url: str, prefix: str = "sb_test") -> AsyncIterator[str]:
    """A new database at the migrations' head, copied from the run's template (its URL),
    dropped on exit; what the session service would have made of an empty one."""
    template = await TEMPLATES.name(admin_url)
    async with fresh_database(admin_url, prefix, template) as url:
        yield url
