"""The broker's raw ceiling with aio-pika alone: the stream path without Switchboard's code.

A publisher (this process) puts each session's events on its shard's stream (crc32 % K, the
shipped K) in batches, as the delivery core does: per shard, one batch in flight at a time, the
next batch = every event enqueued meanwhile (at most COALESCE_MAX_EVENTS), one persistent ndjson
message with confirms. A consumer process reads the K streams from `next`, splits each batch
and records every event's latency from its scheduled time.
"""

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import aio_pika
import orjson
from switchboard_events import BrokerSettings, declare_topology, delete_topology, names_from, new_id
from switchboard_events.routing import shard_of

from .histogram import Histogram
from .schedule import open_loop

IN_FLIGHT = 4096
"""Events enqueued and not yet confirmed, at most (flat out)."""
PREFETCH = 256
NDJSON = "application/x-ndjson"


@dataclass
class ConsumeReport:
    count: int = 0
    messages: int = 0
    latency: Histogram = field(default_factory=Histogram)
    first_at: float = 0.0
    last_at: float = 0.0


def session_ids(sessions: int) -> list[str]:
    return [f"raw{i}" for i in range(sessions)]


async def prepare(settings: BrokerSettings) -> None:
    """The prefix's topology: its K streams among it."""
    async with await aio_pika.connect(settings.amqp_url) as conn:
        await declare_topology(await conn.channel(), names_from(settings), settings)


def body(session_id: str, seq: int, scheduled: float) -> bytes:
    """A token event shaped like the gateway's, built without pydantic (aio-pika cost only)."""
    return orjson.dumps(
        {
            "id": new_id(),
            "type": "token",
            "data": {"token": f"t{seq} "},
            "session_id": session_id,
            "agent_type": "personal",
            "timestamp": datetime.now(UTC).isoformat(),
            "run_id": "raw",
            "seq": seq,
            "metadata": {"t": scheduled},
        }
    )


class ShardBatcher:
    """Per shard: one batch message in flight; what is enqueued meanwhile is the next one."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, streams: list[str], limit: int):
        self._exchange = channel.default_exchange
        self._streams = streams
        self._limit = limit
        self._pending: list[list[bytes]] = [[] for _ in streams]
        self._busy = [False] * len(streams)
        self._tasks: set[asyncio.Task[None]] = set()
        self.gate = asyncio.Semaphore(IN_FLIGHT)
        self.messages = 0

    async def enqueue(self, shard: int, event: bytes) -> None:
        await self.gate.acquire()
        self._pending[shard].append(event)
        if not self._busy[shard]:
            self._busy[shard] = True
            task = asyncio.create_task(self._lane(shard))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _lane(self, shard: int) -> None:
        pending = self._pending[shard]
        try:
            while pending:
                batch = pending[: self._limit]
                del pending[: self._limit]
                message = aio_pika.Message(
                    b"\n".join(batch),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type=NDJSON,
                )
                await self._exchange.publish(message, self._streams[shard])
                self.messages += 1
                for _ in batch:
                    self.gate.release()
                await asyncio.sleep(0)  # producers woken meanwhile join the next batch
        finally:
            self._busy[shard] = False

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))


async def publish(
    settings: BrokerSettings, sessions: int, rate: float | None, duration_s: float
) -> tuple[int, float, int]:
    """Publish at `rate` per session (None: as fast as confirms allow); (events, seconds,
    messages)."""
    names = names_from(settings)
    shards = settings.stream_shards
    async with await aio_pika.connect(settings.amqp_url) as conn:
        channel = await conn.channel(publisher_confirms=True)
        batcher = ShardBatcher(channel, names.streams(shards), settings.coalesce_max_events)
        sids = session_ids(sessions)
        shard = [shard_of(sid, shards) for sid in sids]

        async def send(i: int, seq: int, scheduled: float) -> None:
            await batcher.enqueue(shard[i], body(sids[i], seq, scheduled))

        started = time.perf_counter()
        if rate is None:
            total = await _flat_out(sessions, duration_s, send)
        else:
            total = await open_loop(sessions, rate, duration_s, send)
        await batcher.drain()
        return total, time.perf_counter() - started, batcher.messages


async def _flat_out(sessions: int, duration_s: float, send: Any) -> int:
    deadline = time.monotonic() + duration_s
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        for i in range(sessions):
            await send(i, seq, time.time())
        await asyncio.sleep(0)
    return seq * sessions


class RawConsumer:
    """A child process reading every shard stream from `next` (acks each batch: credit)."""

    def __init__(self, settings: BrokerSettings) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        args = (settings.amqp_url, settings.broker_prefix, settings.stream_shards, child)
        self.process = ctx.Process(target=_consumer_main, args=args, daemon=True)

    async def start(self) -> "RawConsumer":
        self.process.start()
        await self._recv(30)
        return self

    async def finish(self, expected: int, wait_s: float) -> ConsumeReport:
        self._conn.send((expected, wait_s))
        report: ConsumeReport = await self._recv(wait_s + 30)
        return report

    async def _recv(self, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._conn.poll, timeout):
            raise TimeoutError("raw consumer did not answer")
        return self._conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(10)


def _consumer_main(url: str, prefix: str, shards: int, conn: Connection) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_consume(url, prefix, shards, conn))


async def _consume(url: str, prefix: str, shards: int, conn: Connection) -> None:
    """Consume until told `None`; each `(expected, wait_s)` round answers with its own report."""
    names = names_from(BrokerSettings(AMQP_URL=url, BROKER_PREFIX=prefix))
    rounds = [ConsumeReport()]

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        now, report = time.time(), rounds[-1]
        report.messages += 1
        for line in message.body.split(b"\n"):
            report.latency.record(now - orjson.loads(line)["metadata"]["t"])
            report.count += 1
        report.first_at = report.first_at or now
        report.last_at = now
        await message.ack()

    async with await aio_pika.connect(url) as amqp:
        channel = await amqp.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        for stream in names.streams(shards):
            queue = await channel.get_queue(stream)
            await queue.consume(on_message, arguments={"x-stream-offset": "next"})
        conn.send("ready")
        loop = asyncio.get_running_loop()
        while (order := await loop.run_in_executor(None, conn.recv)) is not None:
            expected, wait_s = order
            deadline = time.monotonic() + wait_s
            while rounds[-1].count < expected and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            conn.send(rounds[-1])
            rounds.append(ConsumeReport())


async def cleanup(settings: BrokerSettings) -> None:
    """Delete the prefix's topology, its streams included."""
    async with await aio_pika.connect(settings.amqp_url) as conn:
        await delete_topology(await conn.channel(), names_from(settings), settings)
