"""The broker's raw ceiling with aio-pika alone: one message per event, with confirms.

A publisher (this process) sends each event as its own persistent message to a device queue;
a consumer process acks and discards, recording latency from the event's scheduled time.
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
from switchboard_events import (
    BrokerSettings,
    declare_device_queue,
    declare_topology,
    delete_topology,
    names_from,
    new_id,
)

from .histogram import Histogram
from .schedule import open_loop

IN_FLIGHT = 512
PREFETCH = 512


@dataclass
class ConsumeReport:
    count: int = 0
    latency: Histogram = field(default_factory=Histogram)
    first_at: float = 0.0
    last_at: float = 0.0


def session_ids(streams: int) -> list[str]:
    return [f"raw{i}" for i in range(streams)]


async def prepare(settings: BrokerSettings, streams: int) -> None:
    async with await aio_pika.connect(settings.amqp_url) as conn:
        channel = await conn.channel()
        names = names_from(settings)
        await declare_topology(channel, names)
        for sid in session_ids(streams):
            queue = await declare_device_queue(channel, names, settings, sid, "d")
            await queue.purge()


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


async def publish(
    settings: BrokerSettings, streams: int, rate: float | None, duration_s: float
) -> tuple[int, float]:
    """Publish at `rate` per stream (None: as fast as confirms allow); (events, seconds)."""
    names = names_from(settings)
    async with await aio_pika.connect(settings.amqp_url) as conn:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.events_exchange)
        gate = asyncio.Semaphore(IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        sids = session_ids(streams)

        async def send(i: int, seq: int, scheduled: float) -> None:
            await gate.acquire()
            message = aio_pika.Message(
                body(sids[i], seq, scheduled), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            task = asyncio.create_task(
                exchange.publish(message, names.routing_key(sids[i], "token"))
            )
            tasks.add(task)
            task.add_done_callback(lambda t: (tasks.discard(t), gate.release()))

        started = time.perf_counter()
        if rate is None:
            total = await _flat_out(streams, duration_s, send)
        else:
            total = await open_loop(streams, rate, duration_s, send)
        if tasks:
            await asyncio.gather(*tasks)
        return total, time.perf_counter() - started


async def _flat_out(streams: int, duration_s: float, send: Any) -> int:
    deadline = time.monotonic() + duration_s
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        for i in range(streams):
            await send(i, seq, time.time())
    return seq * streams


class RawConsumer:
    """A child process consuming every raw device queue (manual ack, prefetch bounded)."""

    def __init__(self, settings: BrokerSettings, streams: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        args = (settings.amqp_url, settings.broker_prefix, streams, child)
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


def _consumer_main(url: str, prefix: str, streams: int, conn: Connection) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_consume(url, prefix, streams, conn))


async def _consume(url: str, prefix: str, streams: int, conn: Connection) -> None:
    """Consume until told `None`; each `(expected, wait_s)` round answers with its own report."""
    names = names_from(BrokerSettings(AMQP_URL=url, BROKER_PREFIX=prefix))
    rounds = [ConsumeReport()]

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        now, report = time.time(), rounds[-1]
        report.latency.record(now - orjson.loads(message.body)["metadata"]["t"])
        report.count += 1
        report.first_at = report.first_at or now
        report.last_at = now
        await message.ack()

    async with await aio_pika.connect(url) as amqp:
        channel = await amqp.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        for sid in session_ids(streams):
            queue = await channel.get_queue(names.device_queue(sid, "d"))
            await queue.consume(on_message)
        conn.send("ready")
        loop = asyncio.get_running_loop()
        while (order := await loop.run_in_executor(None, conn.recv)) is not None:
            expected, wait_s = order
            deadline = time.monotonic() + wait_s
            while rounds[-1].count < expected and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            conn.send(rounds[-1])
            rounds.append(ConsumeReport())


async def cleanup(settings: BrokerSettings, streams: int) -> None:
    """Delete the raw device queues and the prefix's shared names."""
    names = names_from(settings)
    async with await aio_pika.connect(settings.amqp_url) as conn:
        channel = await conn.channel()
        for sid in session_ids(streams):
            await channel.queue_delete(names.device_queue(sid, "d"))
        await delete_topology(channel, names)
