"""Inspecting, replaying and purging dead letters (`switchboard-session dead-letters ...`)."""

import contextlib
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from .deadletter import ERROR, OUR_HEADERS, REASON, REPLAYED, ROUTING_KEY, SOURCE, truncate
from .routing import Names


@dataclass(frozen=True)
class Parked:
    """One dead letter as an operator sees it."""

    source_queue: str
    reason: str
    error: str
    routing_key: str
    body: str
    replayed: int


def describe(message: AbstractIncomingMessage, body_chars: int = 300) -> Parked:
    headers = message.headers or {}
    return Parked(
        source_queue=str(headers.get(SOURCE, "")),
        reason=str(headers.get(REASON, "")),
        error=str(headers.get(ERROR, "")),
        routing_key=str(headers.get(ROUTING_KEY, "")),
        body=truncate(message.body.decode("utf-8", "replace"), body_chars),
        replayed=int(str(headers.get(REPLAYED, 0))),
    )


async def depth(connection: AbstractConnection, names: Names, source: str) -> int:
    """Messages waiting in `source`'s dead-letter queue (a passive declare)."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(names.dead_letter_queue(source), passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def peek(channel: AbstractChannel, names: Names, source: str, limit: int) -> list[Parked]:
    """Up to `limit` dead letters, oldest first, left in the queue (in their order)."""
    queue = await channel.get_queue(names.dead_letter_queue(source))
    held: list[AbstractIncomingMessage] = []
    try:
        while len(held) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            held.append(message)
        return [describe(message) for message in held]
    finally:
        for message in reversed(held):
            await message.nack(requeue=True)


async def replay(channel: AbstractChannel, names: Names, source: str, limit: int) -> int:
    """Send up to `limit` dead letters back to their source queue (confirmed, then removed
    from the dead-letter queue); how many went back. `channel` must confirm publishes."""
    queue = await channel.get_queue(names.dead_letter_queue(source))
    count = 0
    while count < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        try:
            await channel.default_exchange.publish(_replayed(message), names.source_queue(source))
        except BaseException:
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            raise
        await message.ack()
        count += 1
    return count


async def purge(channel: AbstractChannel, names: Names, source: str) -> int:
    """Drop every dead letter of `source`; how many were dropped."""
    queue = await channel.get_queue(names.dead_letter_queue(source))
    result = await queue.purge()
    return int(result.message_count or 0)


def _replayed(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers: dict[str, Any] = {
        key: value for key, value in (message.headers or {}).items() if key not in OUR_HEADERS
    }
    headers[REPLAYED] = int(str((message.headers or {}).get(REPLAYED, 0))) + 1
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
