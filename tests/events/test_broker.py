"""Publisher against the real broker: events onto their session's stream shard, batching per
shard, order, seq, confirms, marks, topology."""

import asyncio

import aio_pika
import pytest
from switchboard_events import (
    BrokerSettings,
    Event,
    Names,
    Publisher,
    PublishFailed,
    RunStream,
    StreamReader,
    broker_connection,
    declare_topology,
    make_event,
    parse_event,
    queue_exists,
    shard_of,
)
from switchboard_events.topology import delete_topology, shared_names

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


class Collected:
    """What a reader of one shard from `first` handed over: batches and marks."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, list[bytes]]] = []
        self.marks: list[tuple[int, str]] = []
        self.changed = asyncio.Event()

    def on_batch(self, offset: int, lines: list[bytes]) -> None:
        self.batches.append((offset, lines))
        self.changed.set()

    def on_mark(self, offset: int, mark_id: str) -> None:
        self.marks.append((offset, mark_id))
        self.changed.set()

    def events(self, session_id: str | None = None) -> list[Event]:
        parsed = [parse_event(line) for _, lines in self.batches for line in lines]
        return [e for e in parsed if session_id is None or e.session_id == session_id]  # type: ignore[misc]

    async def until(self, done, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while not done():
                self.changed.clear()
                await self.changed.wait()


async def read_shard(settings: BrokerSettings, names: Names, shard: int, done) -> Collected:  # type: ignore[no-untyped-def]
    """Read shard `shard` from its first offset until `done(collected)`."""
    got = Collected()
    reader = StreamReader(
        settings.broker_urls, names, shard, got.on_batch, "first", on_mark=got.on_mark
    )
    await reader.start()
    try:
        await got.until(lambda: done(got))
    finally:
        await reader.close()
    return got


def _with(settings: BrokerSettings, **changes) -> BrokerSettings:  # type: ignore[no-untyped-def]
    return settings.model_copy(update=changes)


async def test_events_reach_their_sessions_shard_in_order(broker_settings, names: Names) -> None:
    settings = _with(broker_settings, coalesce_max_events=1)
    async with broker_connection(settings) as conn:
        publisher = await Publisher(await conn.channel(), names, settings).start()
        stream = RunStream(publisher, session_id="s1", run_id="r1")
        for i in range(20):
            await stream.emit("token", {"token": f"t{i}"})
        await stream.drain()
    shard = shard_of("s1", settings.stream_shards)
    got = await read_shard(settings, names, shard, lambda g: len(g.events()) >= 20)
    assert [e.data.token for e in got.events()] == [f"t{i}" for i in range(20)]  # type: ignore[union-attr]
    assert [e.seq for e in got.events()] == list(range(1, 21))
    assert [len(lines) for _, lines in got.batches] == [1] * 20
    assert [offset for offset, _ in got.batches] == list(range(20))
    assert publisher.messages_sent == 20


async def test_events_are_batched_per_shard_in_order(broker_settings, names: Names) -> None:
    """What is enqueued while a batch is unconfirmed goes out together, capped; sessions of one
    shard share batches and each keeps its order."""
    settings = _with(broker_settings, coalesce_max_events=50, coalesce_window_ms=20)
    shards = settings.stream_shards
    first = "s2"
    other = next(
        f"x{i}" for i in range(100) if shard_of(f"x{i}", shards) == shard_of(first, shards)
    )
    async with broker_connection(settings) as conn:
        publisher = await Publisher(await conn.channel(), names, settings).start()
        streams = [RunStream(publisher, session_id=s, run_id=f"r-{s}") for s in (first, other)]
        for stream in streams:
            await stream.emit("run_start", {"message_id": "m"})
        for i in range(250):
            for stream in streams:
                await stream.emit("token", {"token": f"t{i}"})
        for stream in streams:
            await stream.emit("run_end", {"status": "completed"})
            await stream.drain()
    got = await read_shard(
        settings, names, shard_of(first, shards), lambda g: len(g.events()) >= 504
    )
    for session_id in (first, other):
        events = got.events(session_id)
        assert [e.seq for e in events] == list(range(1, 253))
        assert (events[0].type, events[-1].type) == ("run_start", "run_end")
    sizes = [len(lines) for _, lines in got.batches]
    assert max(sizes) == 50, "batches are capped at coalesce_max_events"
    assert publisher.messages_sent < 30, "events travel batched"
    assert any(
        {parse_event(x).session_id for x in lines} == {first, other} for _, lines in got.batches
    )


async def test_shards_publish_in_parallel_lanes(broker_settings, names: Names) -> None:
    shards = broker_settings.stream_shards
    sessions = {shard_of(f"p{i}", shards): f"p{i}" for i in range(100)}
    assert len(sessions) == shards
    async with broker_connection(broker_settings) as conn:
        publisher = await Publisher(await conn.channel(), names, broker_settings).start()
        streams = [RunStream(publisher, session_id=s, run_id=f"r{s}") for s in sessions.values()]
        for n in range(100):
            for stream in streams:
                await stream.emit("token", {"token": str(n)})
        await asyncio.gather(*(s.drain() for s in streams))
    for shard, session_id in sessions.items():
        got = await read_shard(broker_settings, names, shard, lambda g: len(g.events()) >= 100)
        assert {e.session_id for e in got.events()} == {session_id}
        assert [e.seq for e in got.events()] == list(range(1, 101))


async def test_a_mark_is_seen_at_its_offset_and_carries_no_event(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        publisher = await Publisher(await conn.channel(), names, broker_settings).start()
        await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s3"))
        shard = publisher.shard("s3")
        mark_id = await publisher.mark(shard)
        await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s3"))
    got = await read_shard(broker_settings, names, shard, lambda g: len(g.batches) >= 2)
    assert got.marks == [(1, mark_id)]
    assert [offset for offset, _ in got.batches] == [0, 2]


async def test_publish_on_a_dead_channel_raises(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        publisher = await Publisher(channel, names, broker_settings).start()
        await channel.close()
        with pytest.raises(PublishFailed):
            await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s7"))


async def test_a_publish_to_a_missing_stream_fails(broker_settings, names) -> None:
    """No stream (topology not declared, or STREAM_SHARDS differing between processes): the
    publish is returned by the broker and fails, instead of vanishing."""
    settings = _with(broker_settings, publish_retry_s=0.5)
    async with broker_connection(settings) as conn:
        publisher = await Publisher(await conn.channel(), Names("nowhere."), settings).start()
        with pytest.raises(PublishFailed, match="unroutable"):
            await publisher.publish(make_event("typing", {"status": "typing"}, session_id="s8"))
        with pytest.raises(PublishFailed, match="unroutable"):
            await publisher.mark(0)


async def test_redeclaring_topology_is_idempotent(broker_settings, names) -> None:
    async with broker_connection(broker_settings) as conn:
        channel = await conn.channel()
        await declare_topology(channel, names, broker_settings)
        await declare_topology(channel, names, broker_settings)
        for stream in names.streams(broker_settings.stream_shards):
            assert await queue_exists(conn, stream)


async def test_delete_topology_removes_every_name_of_the_prefix(broker_settings, names) -> None:
    queues, exchanges = shared_names(names, broker_settings.stream_shards)
    assert {names.run_queue, names.tool_queue, names.progress_queue} <= set(queues)
    assert set(names.streams(broker_settings.stream_shards)) <= set(queues)
    assert sorted(exchanges) == sorted(
        [names.control_exchange, names.commands_exchange, names.dead_letters_exchange]
    )
    assert all(name.startswith(names.prefix) for name in queues + exchanges)
    async with broker_connection(broker_settings) as conn:
        assert await queue_exists(conn, names.stream(0))
        await delete_topology(await conn.channel(), names, broker_settings)
        assert not any([await queue_exists(conn, queue) for queue in queues])
        channel = await conn.channel()
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            await channel.get_exchange(names.control_exchange)  # passive: gone


async def test_a_linger_window_gathers_a_slow_trickle(broker_settings, names) -> None:
    """COALESCE_WINDOW_MS > 0: events spaced closer than the window share one message."""
    settings = _with(broker_settings, coalesce_window_ms=300, coalesce_max_events=64)
    async with broker_connection(settings) as conn:
        publisher = await Publisher(await conn.channel(), names, settings).start()
        futures = []
        for i in range(5):
            futures.append(
                publisher.enqueue(make_event("token", {"token": str(i)}, session_id="s9"))
            )
            await asyncio.sleep(0.01)
        await asyncio.gather(*futures)
    got = await read_shard(settings, names, publisher.shard("s9"), lambda g: len(g.events()) >= 5)
    assert [e.data.token for e in got.events()] == ["0", "1", "2", "3", "4"]  # type: ignore[union-attr]
    assert [len(lines) for _, lines in got.batches] == [5] and publisher.messages_sent == 1
