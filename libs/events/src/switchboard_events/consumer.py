"""Consuming events: single or batched messages, split into events with their delivery."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from switchboard_protocol import AnyEvent, parse_event

from .codec import split_batch


@dataclass(frozen=True, slots=True)
class Delivered:
    """One event as received: its raw JSON, the message it came in, and whether it ended it."""

    raw: bytes
    message: AbstractIncomingMessage
    last_in_message: bool

    def event(self) -> AnyEvent:
        return parse_event(self.raw)


def unpack(message: AbstractIncomingMessage) -> list[Delivered]:
    lines = split_batch(message.body)
    last = len(lines) - 1
    return [Delivered(line, message, i == last) for i, line in enumerate(lines)]


def events_of(message: AbstractIncomingMessage) -> list[AnyEvent]:
    """The typed events of one message (validates each)."""
    return [parse_event(line) for line in split_batch(message.body)]


async def iter_events(queue: AbstractQueue, *, prefetch_hint: int = 0) -> AsyncIterator[Delivered]:
    """Yield events one at a time from `queue` (manual ack: ack `message` when done)."""
    async with queue.iterator() as messages:
        async for message in messages:
            for delivered in unpack(message):
                yield delivered
