"""What keeps an idle device cheap and a connect fast: lazy per-connection state, the ASGI fast
path, concurrent probe channels, and a publisher that sends an event on an idle lane at once
(device checks: test_device_checks.py)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from switchboard_events import BrokerSettings, Names, Publisher, broker_connection, make_event
from switchboard_gateway.asgi import _session_of
from switchboard_gateway.inbox import Inbox
from switchboard_gateway.pool import ChannelPool
from switchboard_gateway.window import AckWindow, UnknownEvent

pytestmark = pytest.mark.timeout(30)


@asynccontextmanager
async def _pool(url: str, per_channel: int, **kwargs: Any) -> AsyncIterator[ChannelPool]:
    """A started pool, closed after the block."""
    pool = ChannelPool(url, per_channel, **kwargs)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()


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


async def test_ack_window_fills_waits_and_releases() -> None:
    window = AckWindow(2)
    assert len(window) == 0 and not window.full
    await window.wait_room()  # room: returns at once
    window.add("a", None)
    window.add("b", "msg")  # type: ignore[arg-type]
    assert window.full
    waiter = asyncio.create_task(window.wait_room())
    await asyncio.sleep(0)
    assert not waiter.done()
    assert window.ack("b") == ["msg"]
    await asyncio.wait_for(waiter, 5)
    assert window.ack("b") == []  # a repeated ack is harmless
    with pytest.raises(UnknownEvent):
        window.ack("never-sent")


async def test_a_stopping_connection_wakes_a_sender_waiting_for_room() -> None:
    window = AckWindow(1)
    window.add("a", None)
    waiter = asyncio.create_task(window.wait_room())
    await asyncio.sleep(0)
    window.wake()
    await asyncio.wait_for(waiter, 5)


def test_fast_path_takes_exactly_the_device_socket_route() -> None:
    assert _session_of("/ai/ws/s1") == "s1"
    assert _session_of("/ai/ws/") is None
    assert _session_of("/ai/ws/s1/extra") is None
    assert _session_of("/ai/sessions") is None


@pytest.mark.broker
async def test_probe_channels_serve_callers_at_once_and_survive_a_failure(
    broker_settings: BrokerSettings,
) -> None:
    async with _pool(broker_settings.amqp_url, 10, probe_channels=3) as pool:
        async with pool.probing() as a, pool.probing() as b, pool.probing() as c:
            assert len({id(a), id(b), id(c)}) == 3
        async with pool.probing() as failing:
            with pytest.raises(Exception):  # noqa: B017 - aio-pika's ChannelClosed subclass
                await failing.declare_queue(f"{broker_settings.broker_prefix}missing", passive=True)
        async with pool.probing() as fresh:
            assert not fresh.is_closed
            await fresh.declare_queue(exclusive=True)


@pytest.mark.broker
async def test_shared_channels_spill_onto_more_connections_and_die_with_theirs(
    broker_settings: BrokerSettings,
) -> None:
    """A channel per device (quorum queues) would pass the broker's `channel_max` on one
    connection; the pool opens more connections, and a lost one loses only its devices."""
    lost: list[int] = []
    async with _pool(broker_settings.amqp_url, 1, channels_per_connection=2) as pool:
        shared = [
            await pool.join(16, device, lambda d=device: lost.append(d)) for device in range(5)
        ]
        connections = {id(s.connection) for s in shared}
        assert len(connections) == 3  # 2 + 2 + 1
        assert pool.channels == 5
        doomed = shared[4].connection
        assert doomed is not None
        await doomed.close()
        assert lost == [4]
        assert pool.channels == 4
        again = await pool.join(16, 9, lambda: lost.append(9))  # a fresh connection for it
        assert again.connection is not doomed and not again.channel.is_closed


@pytest.mark.broker
async def test_a_connection_holds_the_channels_the_broker_allows_less_the_probes(
    broker_settings: BrokerSettings,
) -> None:
    """Without a cap, a connection's room comes from the `channel_max` the broker negotiated."""
    async with _pool(broker_settings.amqp_url, 1, probe_channels=4) as pool:
        shared = await pool.join(16, 1, lambda: None)
        assert shared.connection is not None
        negotiated = shared.connection.transport.connection.connection_tune.channel_max  # type: ignore[union-attr]
        assert 0 < pool._room(shared.connection) < (negotiated or 65536) - 4


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
