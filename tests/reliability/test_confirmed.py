"""The confirming test publisher (confirmed.py) that scenario 3 and the cluster scenarios share:
each publishes its own event type, and every id it counts as confirmed reaches the session's
shard stream."""

import asyncio
from typing import get_args

import pytest
from switchboard_events import BrokerSettings

from tests.reliability.confirmed import ConfirmedPublisher, EventType
from tests.tap import tap

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


@pytest.mark.parametrize("event_type", get_args(EventType))
async def test_what_it_counts_as_confirmed_arrives(
    broker_settings: BrokerSettings, event_type: EventType
) -> None:
    source = ConfirmedPublisher(broker_settings, "s-confirmed", event_type)
    async with tap(broker_settings, source.session_id) as device:
        feeding = asyncio.create_task(source.run())
        seen: set[str] = set()
        try:
            while len(seen) < 5:
                event = await device.next()
                assert event.type == event_type
                seen.add(event.id)
        finally:
            source.stop.set()
            await feeding
        async with asyncio.timeout(30):
            while not set(source.confirmed) <= seen:
                seen.add((await device.next()).id)
    assert source.failed == 0, source.errors
    assert len(source.confirmed) >= 5
