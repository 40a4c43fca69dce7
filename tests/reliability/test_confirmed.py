"""The confirming test publisher (confirmed.py) that scenario 3 and the cluster scenarios share:
each publishes its own event type, and every id it counts as confirmed reaches a queue."""

import asyncio
from typing import get_args

import aio_pika
import pytest
from switchboard_events import BrokerSettings, Names, broker_connection, parse_event, split_batch

from tests.reliability.confirmed import ConfirmedPublisher, EventType

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]
Inbox = asyncio.Queue[aio_pika.abc.AbstractIncomingMessage]


async def ids_of_next(arrived: Inbox, event_type: EventType) -> set[str]:
    """The ids of the next message's events, all of `event_type`, persistent but tokens."""
    message = await arrived.get()
    events = [parse_event(line) for line in split_batch(message.body)]
    assert {e.type for e in events} == {event_type}
    transient = message.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
    assert transient is (event_type == "token")
    return {e.id for e in events}


@pytest.mark.parametrize("event_type", get_args(EventType))
async def test_what_it_counts_as_confirmed_arrives(
    broker_settings: BrokerSettings, names: Names, event_type: EventType
) -> None:
    source = ConfirmedPublisher(broker_settings, "s-confirmed", event_type)
    async with broker_connection(broker_settings, "test-confirmed-tap") as conn:
        channel = await conn.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(names.events_exchange, names.routing_key(source.session_id, "#"))
        arrived: Inbox = asyncio.Queue()
        await queue.consume(arrived.put, no_ack=True)
        feeding = asyncio.create_task(source.run())
        seen: set[str] = set()
        try:
            while len(seen) < 5:
                seen |= await ids_of_next(arrived, event_type)
        finally:
            source.stop.set()
            await feeding
        async with asyncio.timeout(30):
            while not set(source.confirmed) <= seen:
                seen |= await ids_of_next(arrived, event_type)
    assert source.failed == 0, source.errors
    assert len(source.confirmed) >= 5
