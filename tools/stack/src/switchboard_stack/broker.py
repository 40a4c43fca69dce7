"""The broker side of a stack: a name prefix of its own (topology declared, then deleted), the
environment that puts a process on it, and whether RabbitMQ answers at all."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import aio_pika
from switchboard_events import (
    BrokerSettings,
    broker_connection,
    declare_topology,
    delete_topology,
    names_from,
)

from .postgres import START_BOTH, run_token
from .urls import redact


def broker_env(settings: BrokerSettings) -> dict[str, str]:
    """The environment that puts a service process on `settings`' broker: URL, prefix, queue
    type and shard count (every process of a stack must agree on the shards)."""
    return {
        "AMQP_URL": settings.amqp_url,
        "BROKER_PREFIX": settings.broker_prefix,
        "QUEUE_TYPE": settings.queue_type,
        "STREAM_SHARDS": str(settings.stream_shards),
    }


@contextlib.asynccontextmanager
async def isolated_broker(
    amqp_url: str, prefix: str, queue_type: str = "classic"
) -> AsyncIterator[BrokerSettings]:
    """Broker settings under the fresh name prefix `<prefix><run token>.`, topology declared
    (streams included); every stream, shared queue and exchange of the prefix deleted on exit.
    Devices cost the broker nothing, so nothing else is left behind."""
    settings = BrokerSettings(
        AMQP_URL=amqp_url, BROKER_PREFIX=f"{prefix}{run_token()}.", QUEUE_TYPE=queue_type
    )
    names = names_from(settings)
    async with broker_connection(settings, "stack-setup") as conn:
        await declare_topology(await conn.channel(), names, settings)
    try:
        yield settings
    finally:
        async with broker_connection(settings, "stack-cleanup") as conn:
            await delete_topology(await conn.channel(), names, settings)


async def check_rabbitmq(url: str, timeout: float = 5.0) -> str | None:
    """None when the broker accepts a connection, else what to do about it. aiormq's own
    "error when creating transport" line is held back meanwhile: the advice says it all."""
    try:
        with _silenced("aiormq.connection"):
            connection = await asyncio.wait_for(aio_pika.connect(url), timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes advice
        return (
            f"RabbitMQ is not reachable at {redact(url)} ({exc!r}).\n"
            f"Start it with one of:\n  {START_BOTH}\n"
            "  rabbitmq-server -detached        (a local install)\n"
            "or point AMQP_URL at a running broker."
        )
    await connection.close()
    return None


@contextlib.contextmanager
def _silenced(name: str) -> Iterator[None]:
    """No record of logger `name` below CRITICAL while inside."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
