"""Idempotent declaration of Switchboard's streams, exchanges and shared queues."""

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from .routing import DEAD_LETTER_SOURCES, Names, queue_type_arguments, stream_arguments
from .settings import BrokerSettings

RUN_KEY = "run"
TOOL_KEY = "tool"


async def declare_topology(
    channel: AbstractChannel, names: Names, settings: BrokerSettings | None = None
) -> None:
    """The STREAM_SHARDS event streams, the commands and control exchanges, the run, tool and
    RPC queues and the dead-letter queues (safe to repeat with the same settings).

    `settings.queue_type` ("classic" or "quorum") applies to the work queues; quorum replicates
    them on a clustered broker. Streams are replicated on a cluster by themselves. `None`: the
    shipped defaults.
    """
    settings = settings or BrokerSettings()
    for stream in names.streams(settings.stream_shards):
        await channel.declare_queue(stream, durable=True, arguments=stream_arguments(settings))
    shared = queue_type_arguments(settings.queue_type)
    await channel.declare_exchange(
        names.control_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    commands = await channel.declare_exchange(
        names.commands_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    runs = await channel.declare_queue(names.run_queue, durable=True, arguments=shared)
    await runs.bind(commands, RUN_KEY)
    tools = await channel.declare_queue(names.tool_queue, durable=True, arguments=shared)
    await tools.bind(commands, TOOL_KEY)
    await channel.declare_queue(
        names.progress_queue, durable=True, arguments=shared | {"x-single-active-consumer": True}
    )
    await declare_dead_letters(channel, names, {**shared, "x-max-length": settings.dead_letter_max})


async def declare_dead_letters(
    channel: AbstractChannel, names: Names, arguments: dict[str, Any]
) -> None:
    """`ai.dead-letters` (direct, keyed by source) and one durable queue per source."""
    exchange = await channel.declare_exchange(
        names.dead_letters_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    for source in DEAD_LETTER_SOURCES:
        queue = await channel.declare_queue(
            names.dead_letter_queue(source),
            durable=True,
            arguments={**arguments, "x-overflow": "drop-head"},
        )
        await queue.bind(exchange, source)


def shared_names(names: Names, shards: int) -> tuple[list[str], list[str]]:
    """The queues (streams included) and the exchanges of a prefix: every `*_queue` /
    `*_exchange` property of Names (a shared name added there is covered here too)."""
    props = [attr for attr, value in vars(Names).items() if isinstance(value, property)]
    queues = [getattr(names, attr) for attr in props if attr.endswith("_queue")]
    queues += [names.dead_letter_queue(source) for source in DEAD_LETTER_SOURCES]
    queues += names.streams(shards)
    exchanges = [getattr(names, attr) for attr in props if attr.endswith("_exchange")]
    return queues, exchanges


async def delete_topology(
    channel: AbstractChannel, names: Names, settings: BrokerSettings | None = None
) -> None:
    """Delete a prefix's streams, shared queues and exchanges (test runs and the bench clean
    up with it). `settings` gives the shard count (`None`: the shipped default)."""
    queues, exchanges = shared_names(names, (settings or BrokerSettings()).stream_shards)
    for queue in queues:
        await channel.queue_delete(queue)
    for exchange in exchanges:
        await channel.exchange_delete(exchange)


async def queue_exists(connection: AbstractConnection, name: str) -> bool:
    """Whether a queue exists (a passive declare on a throwaway channel)."""
    channel = await connection.channel()
    try:
        await channel.declare_queue(name, passive=True)
        return True
    except aio_pika.exceptions.ChannelClosed:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
