"""Publisher and consumer against the real broker: routing, batching, order, seq, confirms."""

import asyncio

import aio_pika
import pytest
from switchboard_events import (
    BrokerSettings,
    Names,
    Publisher,
    PublishFailed,
    RunStream,
    broker_connection,
    declare_device_queue,
    make_event,
    queue_exists,
)

from tests.events.decode import events_of

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


async def _drain(queue, count: int) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """Consume `count` events; returns (events, message sizes)."""
    events, sizes = [], []
    async with queue.iterator() as messages:
        async for message in messages:
            batch = events_of(message)
            await message.ack()
            events.extend(batch)
            sizes.append(len(batch))
            if len(events) >= count:
                return events, sizes
    return events, sizes


def _with(settings: BrokerSettings, **changes) -> BrokerSettings:  # type: ignore[no-untyped-def]
    return settings.model_copy(update=changes)


async def test_unbatched_events_reach_the_device_queue(broker_settings, names: Names) -> None:
    settings = _with(broker_settings, coalesce_max_events=1, coalesce_window_ms=0)
    async with broker_connection(settings) as conn:
        channel = await conn.channel()
        queue = await declare_device_queue(channel, names, settings, "s1", "d1")
        publisher = await Publisher(channel, names, settings).start()
        stream = RunStream(publisher, session_id="s1", run_id="r1")
        for i in range(20):
            await stream.emit("token", {"token": f"t{i}"})
        await stream.drain()
        events, sizes = await asyncio.wait_for(_drain(queue, 20), 10)
    assert [e.data.token for e in events] == [f"t{i}" for i in range(20)]
    assert [e.seq for e in events] == list(range(1, 21))
    assert sizes == [1] * 20
    assert publisher.messages_sent == 20


async def test_tokens_are_coalesced_in_order(broker_settings, names: Names) -> None:
    settings = _with(broker_settings, coalesce_max_events=50, coalesce_window_ms=20)
    async with broker_connection(settings) as conn:
        channel = await conn.channel()
        queue = await declare_device_queue(channel, names, settings, "s2", "d1")
        publisher = await Publisher(channel, names, settings).start()
        stream = RunStream(publisher, session_id="s2", run_id="r2")
        await stream.emit("run_start", {"message_id": "m"})
        for i in range(500):
            await stream.emit("token", {"token": f"t{i}"})
        await stream.emit("response", {"content": "done", "message_id": "m2"})
        await stream.emit("run_end", {"status": "completed"})
        await stream.drain()
        events, sizes = await asyncio.wait_for(_drain(queue, 503), 10)
    assert [e.seq for e in events] == list(range(1, 504))
    assert [e.type for e in events[:2]] == ["run_start", "token"]
    assert [e.type for e in events[-2:]] == ["response", "run_end"]
    assert max(sizes) == 50, "batches are capped at coalesce_max_events"
    assert publisher.messages_sent < 30, "tokens travel batched"


async def test_every_device_of_a_session_gets_the_events(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        phone = await declare_device_queue(channel, names, broker_settings, "s3", "phone")
        laptop = await declare_device_queue(channel, names, broker_settings, "s3", "laptop")
        other = await declare_device_queue(channel, names, broker_settings, "s4", "phone")
        publisher = await Publisher(channel, names, broker_settings).start()
        await publisher.publish(make_event("session_end", {"reason": "deleted"}, session_id="s3"))
        for queue in (phone, laptop):
            events, _ = await asyncio.wait_for(_drain(queue, 1), 10)
            assert events[0].type == "session_end"
        assert (await other.declare()).message_count == 0


async def test_sessions_publish_in_parallel_lanes(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        queues = [
            await declare_device_queue(channel, names, broker_settings, f"p{i}", "d")
            for i in range(5)
        ]
        publisher = await Publisher(channel, names, broker_settings).start()
        streams = [RunStream(publisher, session_id=f"p{i}", run_id=f"r{i}") for i in range(5)]
        for n in range(100):
            for stream in streams:
                await stream.emit("token", {"token": str(n)})
        await asyncio.gather(*(s.drain() for s in streams))
        for i, queue in enumerate(queues):
            events, _ = await asyncio.wait_for(_drain(queue, 100), 10)
            assert {e.session_id for e in events} == {f"p{i}"}
            assert [e.seq for e in events] == list(range(1, 101))


async def test_session_store_gets_only_persisted_types(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        publisher = await Publisher(channel, names, broker_settings).start()
        stream = RunStream(publisher, session_id="s5", run_id="r5")
        for event_type, data in [
            ("run_start", {"message_id": "m"}),
            ("token", {"token": "a"}),
            ("thinking", {"status": "thinking"}),
            ("response", {"content": "a", "message_id": "m2"}),
            ("run_end", {"status": "completed"}),
        ]:
            await stream.emit(event_type, data)
        await stream.drain()
        store = await channel.declare_queue(names.persist_queue, durable=True)
        events, _ = await asyncio.wait_for(_drain(store, 3), 10)
    assert [e.type for e in events] == ["run_start", "response", "run_end"]


async def test_nacked_publish_raises(broker_settings, names) -> None:
    """A queue that rejects new messages when full makes the broker nack: the caller sees it."""
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        full = await channel.declare_queue(
            f"{names.prefix}full",
            arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
            auto_delete=True,
        )
        await full.bind(names.events_exchange, "session.s6.#")
        publisher = await Publisher(channel, names, broker_settings).start()
        await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s6"))
        with pytest.raises(PublishFailed):
            await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s6"))
        stream = RunStream(publisher, session_id="s6", run_id="r6")
        await stream.emit("token", {"token": "x"})
        with pytest.raises(PublishFailed):
            await stream.drain()


async def test_publish_on_a_dead_channel_raises(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        publisher = await Publisher(channel, names, broker_settings).start()
        await channel.close()
        with pytest.raises(PublishFailed):
            await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s7"))


async def test_device_queue_limits_and_existence(broker_settings, names) -> None:
    settings = _with(broker_settings, device_buffer_max_events=3, coalesce_max_events=1)
    async with broker_connection(settings) as conn:
        assert not await queue_exists(conn, names.device_queue("s8", "d"))
        channel = await conn.channel()
        queue = await declare_device_queue(channel, names, settings, "s8", "d")
        assert await queue_exists(conn, names.device_queue("s8", "d"))
        publisher = await Publisher(channel, names, settings).start()
        stream = RunStream(publisher, session_id="s8", run_id="r8")
        for i in range(5):
            await stream.emit("token", {"token": str(i)})
        await stream.drain()
        events, _ = await asyncio.wait_for(_drain(queue, 3), 10)
    assert [e.seq for e in events] == [3, 4, 5], "drop-head keeps the newest, leaving a seq hole"


async def test_redeclaring_topology_is_idempotent(broker_settings, names) -> None:
    from switchboard_events import declare_topology

    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        await declare_topology(channel, names)
        await declare_topology(channel, names)
        exchange = await channel.get_exchange(names.events_exchange)
        assert isinstance(exchange, aio_pika.abc.AbstractExchange)


async def test_delete_topology_removes_every_shared_name_of_the_prefix(
    broker_settings, names: Names
) -> None:
    from switchboard_events.topology import delete_topology, shared_names

    queues, exchanges = shared_names(names)
    assert {names.run_queue, names.tool_queue, names.persist_queue} <= set(queues)
    assert (
        names.dead_letters_exchange in exchanges
        and len(exchanges) == 4
        and all(name.startswith(names.prefix) for name in queues)
    )
    async with broker_connection(broker_settings) as conn:
        assert await queue_exists(conn, names.run_queue)
        await delete_topology(await conn.channel(), names)
        assert not any([await queue_exists(conn, queue) for queue in queues])
        channel = await conn.channel()
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            await channel.get_exchange(names.events_exchange)  # passive: gone


async def test_a_linger_window_gathers_a_slow_trickle(broker_settings, names) -> None:
    """COALESCE_WINDOW_MS > 0: events spaced closer than the window share one message."""
    settings = _with(broker_settings, coalesce_window_ms=300, coalesce_max_events=64)
    async with broker_connection(settings) as conn:
        channel = await conn.channel()
        queue = await declare_device_queue(channel, names, settings, "s9", "d")
        publisher = await Publisher(channel, names, settings).start()
        futures = []
        for i in range(5):
            futures.append(
                publisher.enqueue(make_event("token", {"token": str(i)}, session_id="s9"))
            )
            await asyncio.sleep(0.01)
        await asyncio.gather(*futures)
        events, sizes = await asyncio.wait_for(_drain(queue, 5), 10)
    assert [e.data.token for e in events] == ["0", "1", "2", "3", "4"]
    assert sizes == [5] and publisher.messages_sent == 1
