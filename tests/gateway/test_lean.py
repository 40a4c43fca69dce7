"""What keeps an idle device cheap and a connect fast: the ASGI fast path, a connect that
declares nothing on the broker, and a publisher that sends an event on an idle lane at once
(device checks: test_device_checks.py)."""

import asyncio

import pytest
from switchboard_events import BrokerSettings, Names, Publisher, broker_connection, make_event
from switchboard_gateway.asgi import _session_of
from switchboard_gateway.lean_ws import Inbox

pytestmark = pytest.mark.timeout(30)


async def test_inbox_is_fifo_and_wakes_its_reader() -> None:
    inbox: Inbox[int | None] = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(1)
    inbox.put_nowait(None)
    assert await reader == 1
    assert await inbox.get() is None
    inbox.put_nowait(2)
    inbox.clear()
    assert inbox.empty()


def test_fast_path_takes_exactly_the_device_socket_route() -> None:
    assert _session_of("/ai/ws/s1") == "s1"
    assert _session_of("/ai/ws/") is None
    assert _session_of("/ai/ws/s1/extra") is None
    assert _session_of("/ai/sessions") is None


@pytest.mark.broker
async def test_an_event_on_an_idle_lane_goes_out_at_once(
    broker_settings: BrokerSettings, names: Names
) -> None:
    settings = broker_settings.model_copy(update={"coalesce_window_ms": 0})
    async with broker_connection(settings) as conn:
        channel = await conn.channel()
        publisher = await Publisher(channel, names, settings).start()
        event = make_event("typing", {"status": "typing", "message": ""}, session_id="s1")
        await asyncio.wait_for(publisher.publish(event), 10)
        burst = [
            publisher.enqueue(make_event("token", {"token": f"t{i}"}, session_id="s1"))
            for i in range(20)
        ]
        await asyncio.wait_for(asyncio.gather(*burst), 10)
        assert publisher.messages_sent == 2, "a burst enqueued at once travels as one message"
