"""StreamReader and read_range against the real broker: every message once, in offset order,
across a broker-closed channel, a broker-closed connection, a consumer cancelled by the broker,
and an `on_batch` that fails; marks skipped by read_range."""

import asyncio
import shutil
from collections.abc import Awaitable, Callable

import pytest
from aiormq.exceptions import ChannelNotFoundEntity
from switchboard_events import (
    BrokerSettings,
    Names,
    Publisher,
    StreamReader,
    broker_connection,
    make_event,
    read_range,
)
from switchboard_events.routing import stream_arguments

from tests.proxy import proxy_to

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

SESSION = "reader-s1"


class Recorder:
    """The offsets handed to on_batch, in order; `gate` (when set) holds on_batch at one
    offset until opened (to act on the reader mid-stream)."""

    def __init__(self, hold_at: int | None = None) -> None:
        self.offsets: list[int] = []
        self.lines: list[bytes] = []
        self.changed = asyncio.Event()
        self.hold_at = hold_at
        self.held = asyncio.Event()
        self.gate = asyncio.Event()

    async def on_batch(self, offset: int, lines: list[bytes]) -> None:
        if offset == self.hold_at and not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        self.offsets.append(offset)
        self.lines.extend(lines)
        self.changed.set()

    async def until_count(self, count: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while len(self.offsets) < count:
                self.changed.clear()
                await self.changed.wait()


async def publish(settings: BrokerSettings, names: Names, count: int, start: int = 0) -> int:
    """`count` events of SESSION, one message each; the shard."""
    settings = settings.model_copy(update={"coalesce_max_events": 1})
    async with broker_connection(settings, "test-reader-publisher") as conn:
        publisher = await Publisher(await conn.channel(), names, settings).start()
        for i in range(start, start + count):
            await publisher.publish(make_event("token", {"token": str(i)}, session_id=SESSION))
        return publisher.shard(SESSION)


async def reading(
    settings: BrokerSettings, names: Names, recorder: Recorder, start="first", prefetch=4
) -> StreamReader:  # type: ignore[no-untyped-def]
    shard = Publisher(None, names, settings).shard(SESSION)  # type: ignore[arg-type]
    reader = StreamReader(
        settings.broker_urls, names, shard, recorder.on_batch, start, prefetch=prefetch
    )
    await reader.start()
    return reader


async def survives(
    broker_settings: BrokerSettings, names: Names, cut: Callable[[StreamReader], Awaitable[None]]
) -> StreamReader:
    """Publish 40, cut the reader (`cut`) while it holds offset 15 with more delivered behind
    it, publish 40 more: the reader hands over 0..79, each once, in order."""
    recorder = Recorder(hold_at=15)
    reader = await reading(broker_settings, names, recorder)
    try:
        await publish(broker_settings, names, 40)
        await asyncio.wait_for(recorder.held.wait(), 20)
        reopens = reader.reopens
        await cut(reader)
        recorder.gate.set()
        await publish(broker_settings, names, 40, start=40)
        await recorder.until_count(80)
        assert recorder.offsets == list(range(80)), "a gap or a duplicate"
        assert reader.reopens > reopens
        assert reader.last_offset == 79
    finally:
        await reader.close()
    return reader


async def test_every_message_once_in_order_with_a_small_prefetch(broker_settings, names) -> None:
    recorder = Recorder()
    reader = await reading(broker_settings, names, recorder, prefetch=2)
    try:
        await publish(broker_settings, names, 30)
        await recorder.until_count(30)
        assert recorder.offsets == list(range(30))
        assert [int(line.split(b'"token":"')[1].split(b'"')[0]) for line in recorder.lines] == list(
            range(30)
        )
        assert reader.reopens == 0
    finally:
        await reader.close()


async def test_an_int_start_skips_the_offsets_before_it(broker_settings, names) -> None:
    await publish(broker_settings, names, 20)
    recorder = Recorder()
    reader = await reading(broker_settings, names, recorder, start=13)
    try:
        await recorder.until_count(7)
        assert recorder.offsets == list(range(13, 20))
    finally:
        await reader.close()


async def test_next_starts_after_what_is_there_and_anchors(broker_settings, names) -> None:
    """From "next": only what follows; the reader's own mark (its anchor) comes first, so
    its position is known before any event (a reopen then resumes exactly)."""
    shard = await publish(broker_settings, names, 5)
    recorder = Recorder()
    marks: list[int] = []
    anchored = asyncio.Event()

    def on_mark(offset: int, mark_id: str) -> None:
        marks.append(offset)
        anchored.set()

    reader = StreamReader(
        broker_settings.broker_urls, names, shard, recorder.on_batch, "next", on_mark=on_mark
    )
    await reader.start()
    try:
        await asyncio.wait_for(anchored.wait(), 10)
        assert marks == [5] and reader.last_offset == 5
        await publish(broker_settings, names, 3, start=5)
        await recorder.until_count(3)
        assert recorder.offsets == [6, 7, 8]
    finally:
        await reader.close()


async def test_resumes_after_the_broker_closes_its_channel(broker_settings, names) -> None:
    async def channel_error(reader: StreamReader) -> None:
        """A passive declare of a missing queue: the broker closes the channel (404)."""
        assert reader.channel is not None
        raw = await reader.channel.get_underlay_channel()
        with pytest.raises(ChannelNotFoundEntity):
            await raw.queue_declare(f"{names.prefix}missing", passive=True)

    await survives(broker_settings, names, channel_error)


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_resumes_after_the_broker_closes_its_connection(broker_settings, names) -> None:
    async def close_connection(reader: StreamReader) -> None:
        """`rabbitmqctl close_connection` on the reader's connection (found by its name)."""
        name = f"stream-reader-{reader.stream}"
        listing = await _run("rabbitmqctl", "-q", "list_connections", "pid", "client_properties")
        pids = [line.split("\t")[0] for line in listing.splitlines() if name in line]
        assert len(pids) == 1, listing
        await _run("rabbitmqctl", "-q", "close_connection", pids[0], "test: connection cut")

    await survives(broker_settings, names, close_connection)


async def test_resumes_after_its_consumer_is_cancelled(broker_settings, names) -> None:
    """Deleting the stream makes the broker cancel the consumer (basic.cancel); the reader
    reopens (retrying while the stream is missing) at last_offset + 1 of the new stream."""
    recorder = Recorder()
    reader = await reading(broker_settings, names, recorder)
    try:
        shard = await publish(broker_settings, names, 5)
        await recorder.until_count(5)
        async with broker_connection(broker_settings, "test-recreate") as conn:
            channel = await conn.channel()
            await channel.queue_delete(names.stream(shard))
            await channel.declare_queue(
                names.stream(shard), durable=True, arguments=stream_arguments(broker_settings)
            )
        await publish(broker_settings, names, 8, start=5)  # offsets 0..7 of the new stream
        await recorder.until_count(8)
        assert recorder.offsets == [0, 1, 2, 3, 4, 5, 6, 7]
        assert reader.reopens >= 1, "only a new consumer reads the new stream"
    finally:
        await reader.close()


async def test_a_failing_on_batch_gets_the_batch_again(broker_settings, names) -> None:
    handed: list[int] = []
    failed = asyncio.Event()
    done = asyncio.Event()

    def on_batch(offset: int, lines: list[bytes]) -> None:
        if offset == 3 and not failed.is_set():
            failed.set()
            raise RuntimeError("storage down")
        handed.append(offset)
        if len(handed) == 10:
            done.set()

    shard = await publish(broker_settings, names, 10)
    reader = StreamReader(broker_settings.broker_urls, names, shard, on_batch, "first")
    await reader.start()
    try:
        await asyncio.wait_for(done.wait(), 20)
        assert handed == list(range(10))
        assert reader.reopens == 1
    finally:
        await reader.close()


async def test_read_range_gives_the_batches_in_range_and_skips_marks(
    broker_settings, names
) -> None:
    shard = await publish(broker_settings, names, 10)
    async with broker_connection(broker_settings, "test-mark") as conn:
        publisher = await Publisher(await conn.channel(), names, broker_settings).start()
        await publisher.mark(shard)  # offset 10
    await publish(broker_settings, names, 5, start=11)
    got = [
        offset async for offset, _ in read_range(broker_settings.broker_urls, names, shard, 2, 12)
    ]
    assert got == [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
    async with broker_connection(broker_settings, "test-range") as conn:
        lines = [lines async for _, lines in read_range(conn, names, shard, 14, 14)]
    assert len(lines) == 1 and b'"token":"14"' in lines[0][0]


async def _run(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_resumes_after_its_connection_is_reset(broker_settings, names) -> None:
    """The node dies (SIGKILL): the reader's TCP connection is reset under it, while it holds
    a batch with more delivered behind it."""
    async with proxy_to(broker_settings.amqp_url) as proxy:
        proxied = broker_settings.model_copy(
            update={"amqp_url": proxy.url_for(broker_settings.amqp_url)}
        )

        async def reset(_reader: StreamReader) -> None:
            proxy.cut()

        await survives(proxied, names, reset)
