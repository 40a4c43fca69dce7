"""Idempotent declaration of Switchboard's exchanges and shared queues."""

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from switchboard_protocol import PERSISTED_TYPES, PROGRESS_TYPES

from .routing import (
    DEAD_LETTER_SOURCES,
    Names,
    device_queue_arguments,
    queue_type_arguments,
)
from .settings import BrokerSettings

RUN_KEY = "run"
TOOL_KEY = "tool"


async def declare_topology(
    channel: AbstractChannel,
    names: Names,
    queue_type: str = "classic",
    dead_letter_max: int = 10_000,
) -> None:
    """Exchanges, the run and tool queues, the session store's queue and the dead-letter
    queues (safe to repeat).

    `queue_type` ("classic" or "quorum", from `BrokerSettings.queue_type`) applies to the
    shared durable queues; quorum replicates them on a clustered broker (every argument used
    here is honoured by quorum queues on RabbitMQ 3.10: see docs/operating.md). `dead_letter_max`
    (`BrokerSettings.dead_letter_max`) caps each dead-letter queue (oldest dropped).
    """
    shared = queue_type_arguments(queue_type)
    events = await channel.declare_exchange(
        names.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
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
    store = await channel.declare_queue(names.persist_queue, durable=True, arguments=shared)
    for event_type in PERSISTED_TYPES:
        await store.bind(events, f"session.*.{event_type}")
    progress = await channel.declare_queue(
        names.progress_queue, durable=True, arguments=shared | {"x-single-active-consumer": True}
    )
    for event_type in PROGRESS_TYPES:
        await progress.bind(events, f"session.*.{event_type}")
    await declare_dead_letters(channel, names, {**shared, "x-max-length": dead_letter_max})


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


def shared_names(names: Names) -> tuple[list[str], list[str]]:
    """The shared queues and the exchanges of a prefix: every `*_queue` / `*_exchange` property
    of Names (a shared name added there is covered here too)."""
    props = [attr for attr, value in vars(Names).items() if isinstance(value, property)]
    queues = [getattr(names, attr) for attr in props if attr.endswith("_queue")]
    queues += [names.dead_letter_queue(source) for source in DEAD_LETTER_SOURCES]
    exchanges = [getattr(names, attr) for attr in props if attr.endswith("_exchange")]
    return queues, exchanges


async def delete_topology(channel: AbstractChannel, names: Names) -> None:
    """Delete a prefix's shared queues and exchanges (test runs and the bench clean up with
    it; device queues expire by themselves, after `DEVICE_BUFFER_TTL_S`)."""
    queues, exchanges = shared_names(names)
    for queue in queues:
        await channel.queue_delete(queue)
    for exchange in exchanges:
        await channel.exchange_delete(exchange)


async def declare_device_queue(
    channel: AbstractChannel,
    names: Names,
    settings: BrokerSettings,
    session_id: str,
    client_id: str,
) -> AbstractQueue:
    """The device's buffer queue, bound to its session's events (safe to repeat)."""
    queue = await channel.declare_queue(
        names.device_queue(session_id, client_id),
        durable=True,
        arguments=device_queue_arguments(settings),
    )
    await queue.bind(names.events_exchange, names.session_binding(session_id))
    return queue


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
