"""What a batch looks like on its shard's stream: persistent, ndjson, one shard's events of any
sessions and types in enqueue order; a mark is a message of its own that is no event."""

import asyncio

import pytest
from aio_pika.abc import AbstractIncomingMessage
from switchboard_events import BrokerSettings, Names, Publisher, broker_connection, make_event
from switchboard_events.codec import BATCH_CONTENT_TYPE, MARK_CONTENT_TYPE, split_batch
from switchboard_events.routing import shard_of
from switchboard_protocol import parse_event

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def sessions_of_one_shard(settings: BrokerSettings, count: int) -> list[str]:
    """`count` session ids that hash to the same shard as the first."""
    found: list[str] = []
    i = 0
    while len(found) < count:
        sid = f"dm{i}"
        if not found or shard_of(sid, settings.stream_shards) == shard_of(
            found[0], settings.stream_shards
        ):
            found.append(sid)
        i += 1
    return found


async def test_a_batch_is_persistent_ndjson_of_one_shard_in_enqueue_order(
    broker_settings: BrokerSettings, names: Names
) -> None:
    a, b = sessions_of_one_shard(broker_settings, 2)
    shard = shard_of(a, broker_settings.stream_shards)
    events = [
        make_event(kind, data, session_id=sid, run_id="r", seq=i + 1)
        for i, (sid, kind, data) in enumerate(
            [
                (a, "run_start", {"message_id": "m"}),
                (b, "token", {"token": "x"}),
                (a, "token", {"token": "y"}),
                (b, "response", {"content": "x", "message_id": "m2"}),
                (a, "run_end", {"status": "completed"}),
            ]
        )
    ]
    received: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    async with broker_connection(broker_settings, "test-batches") as conn:
        reading = await conn.channel()
        await reading.set_qos(prefetch_count=64)  # a stream consumer needs a prefetch
        stream = await reading.declare_queue(names.stream(shard), passive=True)
        await stream.consume(received.put, arguments={"x-stream-offset": "next"})
        publisher = await Publisher(await conn.channel(), names, broker_settings).start()
        await asyncio.gather(*[publisher.enqueue(event) for event in events])
        mark = await publisher.mark(shard)  # after every batch: the end of what to read

        lines: list[bytes] = []
        marks: list[str] = []
        while not marks:
            message = await asyncio.wait_for(received.get(), 10)
            await message.ack()
            if message.content_type == MARK_CONTENT_TYPE:
                marks.append(message.body.decode())
                continue
            assert message.content_type == BATCH_CONTENT_TYPE
            assert message.delivery_mode == 2  # every batch persistent, tokens too
            lines += split_batch(message.body)
    assert marks == [mark]
    assert [parse_event(line).id for line in lines] == [event.id for event in events]
