"""Token events travel transient, every other type persistent (TRANSIENT_TOKENS), and each
message carries its first event's id."""

import asyncio

import pytest
from switchboard_events import (
    BrokerSettings,
    Names,
    Publisher,
    RunStream,
    broker_connection,
    declare_device_queue,
)
from switchboard_events.publisher import message_properties

from tests.events.decode import events_of

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def test_properties_say_transient_or_persistent_and_name_the_event() -> None:
    single = message_properties(True, True, "e1")
    batch = message_properties(False, False, "e2")
    assert (single.delivery_mode, single.content_type, single.message_id) == (
        1,
        "application/json",
        "e1",
    )
    assert (batch.delivery_mode, batch.content_type, batch.message_id) == (
        2,
        "application/x-ndjson",
        "e2",
    )


async def _run(settings: BrokerSettings, names: Names, session_id: str) -> dict[str, set[int]]:
    """Publish a small run; the delivery modes each event type arrived with."""
    async with broker_connection(settings) as conn:
        channel = await conn.channel()
        queue = await declare_device_queue(channel, names, settings, session_id, "d")
        publisher = await Publisher(channel, names, settings).start()
        stream = RunStream(publisher, session_id=session_id, run_id="r")
        await stream.emit("run_start", {"message_id": "m"})
        for i in range(3):
            await stream.emit("token", {"token": f"t{i}"})
        await stream.emit("response", {"content": "t0t1t2", "message_id": "m2"})
        await stream.emit("run_end", {"status": "completed"})
        await stream.drain()
        modes: dict[str, set[int]] = {}
        seen = 0
        async with asyncio.timeout(10), queue.iterator() as messages:
            async for message in messages:
                events = events_of(message)
                assert message.message_id == events[0].id
                for event in events:
                    modes.setdefault(event.type, set()).add(int(message.delivery_mode or 0))
                await message.ack()
                seen += len(events)
                if seen >= 6:
                    break
        await queue.delete()
    return modes


async def test_tokens_are_transient_and_the_rest_persistent(broker_settings, names) -> None:
    modes = await _run(broker_settings, names, "dm1")
    assert modes == {"run_start": {2}, "token": {1}, "response": {2}, "run_end": {2}}


async def test_transient_tokens_can_be_turned_off(broker_settings, names) -> None:
    settings = broker_settings.model_copy(update={"transient_tokens": False})
    modes = await _run(settings, names, "dm2")
    assert modes["token"] == {2}
