"""The service's broker link: connects (retrying until the broker answers), declares the
topology, publishes outbox rows (events, run requests, cancels; relay.py) and marks (marks.py),
and dead-letters what ingest cannot store (shard.py). Ingest reads the streams on connections
of its own (ingest.py)."""

import asyncio
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from switchboard_events import (
    BrokerSettings,
    Names,
    Publisher,
    broker_connection,
    declare_topology,
    renew_channel,
)
from switchboard_events.codec import BATCH_CONTENT_TYPE
from switchboard_events.deadletter import (
    ERROR,
    MAX_ERROR_CHARS,
    REASON,
    ROUTING_KEY,
    SOURCE,
    DeadLetter,
    truncate,
)
from switchboard_events.deadletter_admin import depth
from switchboard_events.retry import reconnecting
from switchboard_events.routing import DEAD_LETTER_SOURCES, shard_of
from switchboard_events.topology import RUN_KEY

from .errors import ApiError

log = logging.getLogger(__name__)


class BrokerLink:
    """One robust connection and its confirming publish channel."""

    def __init__(self, settings: BrokerSettings, names: Names, retry_s: float = 1.0) -> None:
        self.settings = settings
        self.names = names
        self.retry_s = retry_s
        self._connection: AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None
        self._commands: AbstractExchange | None = None
        self._control: AbstractExchange | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    @property
    def ready(self) -> bool:
        conn = self._connection
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def run(self) -> None:
        """Connect and declare; reconnect (retrying) until cancelled."""
        await reconnecting(self.retry_s, log, "broker")(self._serve)

    async def _serve(self) -> None:
        try:
            async with broker_connection(self.settings, "switchboard-session") as conn:
                await self._setup(conn)
                await asyncio.Future()  # the robust connection reconnects by itself
        finally:
            self._connection = None

    async def _setup(self, conn: AbstractRobustConnection) -> None:
        channel = await conn.channel(publisher_confirms=True)
        await declare_topology(channel, self.names, self.settings)
        self._publisher = await Publisher(channel, self.names, self.settings).start()
        self._commands = await channel.get_exchange(self.names.commands_exchange)
        self._control = await channel.get_exchange(self.names.control_exchange)
        self._channel = channel
        self._connection = conn
        log.info("broker connected")

    async def park_event(
        self, source: str, source_queue: str, body: bytes, letter: DeadLetter
    ) -> None:
        """Dead-letter one event read from `source_queue` (a stream) with its reason
        (confirmed); `x-original-routing-key` is the stream's name too (what it was published
        with)."""
        if self._channel is None or self._channel.is_closed:
            raise RuntimeError("no broker channel to dead-letter on")
        headers: dict[str, Any] = {
            REASON: letter.reason,
            SOURCE: source_queue,
            ERROR: truncate(letter.error, MAX_ERROR_CHARS),
            ROUTING_KEY: source_queue,
        }
        copy = aio_pika.Message(
            body,
            headers=headers,
            content_type=BATCH_CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        exchange = await self._channel.get_exchange(self.names.dead_letters_exchange, ensure=False)
        await exchange.publish(copy, source)
        log.error("dead-lettered an event of %s: %s (%s)", source_queue, letter.reason,
                  truncate(letter.error, 200))  # fmt: skip

    async def dead_letter_depths(self) -> dict[str, int]:
        """Messages waiting in each dead-letter queue; empty when the broker is away."""
        conn = self._connection
        if conn is None or not self.ready:
            return {}
        return {source: await depth(conn, self.names, source) for source in DEAD_LETTER_SOURCES}

    def shard(self, session_id: str) -> int:
        """The shard stream of `session_id`."""
        return shard_of(session_id, self.settings.stream_shards)

    async def mark(self, shard: int, mark_id: str) -> None:
        """Publish mark `mark_id` on shard stream `shard` (confirmed; marks.py)."""
        self.require()
        assert self._publisher is not None
        await self._publisher.mark(shard, mark_id)

    def require(self) -> None:
        """Raise 503 `broker_unavailable` before anything changes when the broker is away."""
        if not self.ready:
            raise ApiError(503, "broker_unavailable", "the message broker is not reachable")

    async def publish_outbox(self, kind: str, routing: str, body: str) -> None:
        """One outbox row (outbox.py), persistent, confirmed: an event on its shard stream, a run
        request on `ai.commands` (key `run`), a cancel on `ai.control` (`cancel.<run_id>`), a
        tool decision there (`approval.<call_id>`, approval.py in the worker)."""
        self.require()
        if kind == "event":
            assert self._publisher is not None
            # as stored, byte for byte: a row a newer replica wrote keeps the fields this
            # version does not know (only the routing fields are read)
            await self._publisher.enqueue_encoded(body.encode())
            return
        if kind == "run":
            exchange, key = self._commands, RUN_KEY
        elif kind == "cancel":
            exchange, key = self._control, self.names.cancel_key(routing)
        elif kind == "decision":
            exchange, key = self._control, self.names.approval_key(routing)
        else:
            raise ValueError(f"unknown outbox kind {kind!r}")
        assert exchange is not None and self._channel is not None
        try:
            await exchange.publish(_json_message(body), key)
        except aio_pika.exceptions.DeliveryError:
            # a quorum queue's nack can stick to the channel (RabbitMQ 3.10, publisher.py):
            # the outbox's next attempt goes out on a new one
            await renew_channel(self._channel)
            raise


def _json_message(body: str) -> aio_pika.Message:
    return aio_pika.Message(
        body=body.encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
