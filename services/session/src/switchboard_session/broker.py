"""The service's broker link: connects (retrying until the broker answers), declares the
topology, publishes outbox rows (events, run requests, cancels; relay.py), and runs the
persistence consumer."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from switchboard_events import (
    BrokerSettings,
    Names,
    Publisher,
    broker_connection,
    declare_device_queue,
    declare_topology,
    renew_channel,
)
from switchboard_events.deadletter import DeadLetter, DeadLetters
from switchboard_events.deadletter_admin import depth
from switchboard_events.retry import reconnecting
from switchboard_events.routing import DEAD_LETTER_SOURCES
from switchboard_events.topology import RUN_KEY

from .errors import ApiError

log = logging.getLogger(__name__)
MessageHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]
ProgressConsumer = Callable[[AbstractChannel], Awaitable[None]]
"""Consumes the run-progress queue on the channel it is given, until cancelled."""


class BrokerLink:
    """One robust connection, one confirming publish channel, one consumer channel."""

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

    async def run(
        self, handler: MessageHandler, prefetch: int, progress: ProgressConsumer | None = None
    ) -> None:
        """Connect, declare, consume `persist_queue` with `handler` (and the run-progress queue
        with `progress`, on a channel of its own); retry until cancelled."""
        await reconnecting(self.retry_s, log, "broker")(self._serve, handler, prefetch, progress)

    async def _serve(
        self, handler: MessageHandler, prefetch: int, progress: ProgressConsumer | None
    ) -> None:
        try:
            async with broker_connection(self.settings, "switchboard-session") as conn:
                await self._setup(conn, handler, prefetch)
                if progress is None:
                    await asyncio.Future()  # the robust connection reconnects by itself
                else:
                    await progress(await conn.channel())
        finally:
            self._connection = None

    async def _setup(
        self, conn: AbstractRobustConnection, handler: MessageHandler, prefetch: int
    ) -> None:
        channel = await conn.channel(publisher_confirms=True)
        await declare_topology(
            channel, self.names, self.settings.queue_type, self.settings.dead_letter_max
        )
        self._publisher = await Publisher(channel, self.names, self.settings).start()
        self._commands = await channel.get_exchange(self.names.commands_exchange)
        self._control = await channel.get_exchange(self.names.control_exchange)
        self._channel = channel
        consume = await conn.channel()
        await consume.set_qos(prefetch_count=prefetch)
        queue = await consume.get_queue(self.names.persist_queue)
        await queue.consume(handler)
        self._connection = conn
        log.info("broker connected; consuming %s", self.names.persist_queue)

    async def park(
        self,
        source: str,
        message: AbstractIncomingMessage,
        letter: DeadLetter,
        body: bytes | None = None,
    ) -> None:
        """Dead-letter `message` (or `body`) of `source` with its reason (confirmed)."""
        if self._channel is None or self._channel.is_closed:
            raise RuntimeError("no broker channel to dead-letter on")
        await DeadLetters(self._channel, self.names, source).park(message, letter, body)

    async def dead_letter_depths(self) -> dict[str, int]:
        """Messages waiting in each dead-letter queue; empty when the broker is away."""
        conn = self._connection
        if conn is None or not self.ready:
            return {}
        return {source: await depth(conn, self.names, source) for source in DEAD_LETTER_SOURCES}

    def require(self) -> None:
        """Raise 503 `broker_unavailable` before anything changes when the broker is away."""
        if not self.ready:
            raise ApiError(503, "broker_unavailable", "the message broker is not reachable")

    async def publish_outbox(self, kind: str, routing: str, body: str) -> None:
        """One outbox row (outbox.py), persistent, confirmed: an event on `ai.events`, a run
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

    async def live_devices(self, devices: list[tuple[str, str]]) -> int:
        """How many of these (session id, client id) devices are connected now."""
        self.require()
        assert self._connection is not None
        queues = [self.names.device_queue(sid, cid) for sid, cid in devices]
        return await count_consumed(self._connection, queues)

    async def declare_device(self, session_id: str, client_id: str) -> None:
        self.require()
        assert self._channel is not None
        await declare_device_queue(self._channel, self.names, self.settings, session_id, client_id)


def _json_message(body: str) -> aio_pika.Message:
    return aio_pika.Message(
        body=body.encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def count_consumed(conn: AbstractRobustConnection, queues: list[str]) -> int:
    """How many of these queues have a consumer now (a device connected to any gateway): a
    passive declare each; a missing queue closes the probe channel, so it is reopened."""
    count = 0
    channel = await conn.channel(publisher_confirms=False)
    try:
        for name in queues:
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                channel = await conn.channel(publisher_confirms=False)
                continue
            count += 1 if queue.declaration_result.consumer_count else 0
    finally:
        if not channel.is_closed:
            await channel.close()
    return count
