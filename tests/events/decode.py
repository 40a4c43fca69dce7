"""Reading what a test consumed from the broker: the typed events of one message."""

from aio_pika.abc import AbstractIncomingMessage
from switchboard_events import Event, parse_event, split_batch


def events_of(message: AbstractIncomingMessage) -> list[Event]:
    """The typed events of one (single or batched) message; validates each."""
    return [parse_event(line) for line in split_batch(message.body)]
