"""Device consumers share a few long-lived AMQP channels on one connection.

A channel per device costs tens of kilobytes (aiormq keeps tasks, dicts and queues per
channel) and churns channel numbers, so devices share channels instead: up to
CONSUMERS_PER_CHANNEL consumers each, with a per-consumer prefetch (`basic.qos`
global=false, one group of channels per prefetch value). Two rules keep sharing safe:
- an error closes a whole channel, so everything that can fail (a passive declare of a
  missing queue, a declare, asking whether a queue already has a consumer) happens on a
  `probe` channel first, one caller per probe channel, and a probe channel a failure closed
  is replaced by a fresh one. PROBE_CHANNELS of them let that many handshakes probe at once
  (one channel made every connect wait for the one before it);
- delivery tags are per channel, so devices ack and nack only their own messages, one by one
  (never `multiple=True`), and a leaving device nacks its unacked deliveries back to the queue
  (or, alone on its channel, closes the channel: `close_alone`). With quorum queues every
  device is alone on its channel (per_channel 1), and channels spill onto more connections
  below the broker's `channel_max`.
A shared channel that dies anyway (a consume refused in a race, a lost connection) tells each
of its devices, which close 1011 and reconnect (and resume from their queue). The next caller
reconnects the pool, to any broker node that answers (`connect_any`), so a lost cluster node
costs each of its devices one resume.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from switchboard_events.broker_connection import connect_any

log = logging.getLogger(__name__)


@dataclass(eq=False)
class SharedChannel:
    """One channel's consumers: each device registers a callback for the channel's loss."""

    channel: AbstractChannel
    prefetch: int
    connection: AbstractConnection | None = None
    members: dict[int, Callable[[], None]] = field(default_factory=dict)
    dead: bool = False

    def lost(self) -> None:
        self.dead = True
        for on_lost in list(self.members.values()):
            on_lost()
        self.members.clear()


class ChannelPool:
    def __init__(
        self,
        urls: str | Sequence[str],
        per_channel: int,
        name: str = "switchboard-gateway",
        probe_channels: int = 4,
        channels_per_connection: int | None = None,
    ) -> None:
        self._urls = [u.strip() for u in urls.split(",")] if isinstance(urls, str) else list(urls)
        """Broker nodes; a lost connection is replaced by one to any of them that answers."""
        self._per_channel = per_channel
        self._name = name
        self._connection: AbstractConnection | None = None
        self._probes: list[AbstractChannel] = []
        """Idle probe channels of the current connection."""
        self._probe_slots = asyncio.Semaphore(probe_channels)
        self._closing: set[asyncio.Future[None]] = set()
        self._open_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._shared: list[SharedChannel] = []
        self._probe_count = probe_channels
        self._channels_per_connection = channels_per_connection
        """Shared channels one connection holds (None: what the broker allows, less room for
        the probes): a channel per device (quorum queues) would pass RabbitMQ's `channel_max`
        (2 047), and the broker then closes the whole connection."""
        self._extra: list[AbstractConnection] = []
        """Connections opened for shared channels once the main one is full."""

    async def start(self) -> None:
        await self._connected()

    async def close(self) -> None:
        for connection in [self._connection, *self._extra]:
            if connection is not None and not connection.is_closed:
                await connection.close()
        self._extra.clear()
        self._shared.clear()

    @property
    def healthy(self) -> bool:
        return _alive(self._connection)

    async def check(self, timeout: float = 3.0) -> bool:
        """Whether the broker answers, reconnecting first when it dropped the connection."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected()
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            log.warning("broker unreachable: %r", exc)
            return False
        return True

    @property
    def channels(self) -> int:
        """Shared channels open now (for metrics and tests)."""
        return sum(1 for s in self._shared if not s.dead)

    @asynccontextmanager
    async def probing(self) -> AsyncIterator[AbstractChannel]:
        """A probe channel of its own for the caller; replaced when a failure closed it."""
        async with self._probe_slots:
            connection = await self._connected()
            channel = self._probes.pop() if self._probes else None
            if channel is None or channel.is_closed:
                channel = await connection.channel(publisher_confirms=False)
            try:
                yield channel
            except BaseException:  # the channel may be mid-call: never hand it out again
                self._discard(channel)
                raise
            if not channel.is_closed and connection is self._connection:
                self._probes.append(channel)

    def _discard(self, channel: AbstractChannel) -> None:
        if not channel.is_closed:
            task = asyncio.ensure_future(channel.close())
            self._closing.add(task)
            task.add_done_callback(_forget(self._closing))

    async def join(self, prefetch: int, device: int, on_lost: Callable[[], None]) -> SharedChannel:
        """A shared channel with room for one more consumer with `prefetch`; `device` joins it."""
        async with self._open_lock:
            self._shared = [s for s in self._shared if not (s.dead or s.channel.is_closed)]
            for shared in self._shared:
                if shared.prefetch == prefetch and len(shared.members) < self._per_channel:
                    break
            else:
                shared = await self._open_shared(prefetch)
            shared.members[device] = on_lost
            return shared

    def leave(self, shared: SharedChannel, device: int) -> None:
        shared.members.pop(device, None)

    def alone(self, shared: SharedChannel, device: int) -> bool:
        """Whether `device` is the only consumer on `shared` (then `close_alone` releases it)."""
        return not set(shared.members) - {device}

    async def close_alone(self, shared: SharedChannel, device: int) -> None:
        """Release `device`, alone on `shared`, by closing the channel.

        A channel's close is the one atomic release AMQP has: the broker drops the consumer
        and puts its unacked deliveries back at the queue's head in one step, before any next
        consumer gets a message. A `basic.cancel` followed by nacks is two steps, and a consumer
        that starts between them (a quorum queue's next single-active consumer starts at the
        cancel) gets later events before the returned ones: events out of order."""
        shared.members.pop(device, None)
        shared.dead = True  # never handed out again
        self._shared = [s for s in self._shared if s is not shared]
        if not shared.channel.is_closed:
            await shared.channel.close()

    async def queue(self, shared: SharedChannel, name: str) -> AbstractQueue:
        """A handle on an existing queue on a shared channel (no declare: nothing to fail)."""
        return await shared.channel.get_queue(name, ensure=False)

    async def _open_shared(self, prefetch: int) -> SharedChannel:
        connection = await self._with_room()
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch, global_=False)
        shared = SharedChannel(channel, prefetch, connection)
        channel.close_callbacks.add(lambda *_: shared.lost())
        self._shared.append(shared)
        log.info("shared channel %d opened (prefetch %d)", len(self._shared), prefetch)
        return shared

    async def _with_room(self) -> AbstractConnection:
        """A live connection with room for one more shared channel (a new one if none has)."""
        main = await self._connected()
        self._extra = [c for c in self._extra if _alive(c)]
        for connection in [main, *self._extra]:
            held = sum(1 for s in self._shared if s.connection is connection)
            if held < self._room(connection):
                return connection
        extra = await connect_any(self._urls, f"{self._name}-devices-{len(self._extra) + 2}")
        extra.close_callbacks.add(lambda *_: self._drop(extra))
        self._extra.append(extra)
        log.info("device connection %d opened (the others are full)", len(self._extra) + 1)
        return extra

    def _drop(self, connection: AbstractConnection | None) -> None:
        """The shared channels of a lost `connection` are lost (their devices close 1011)."""
        gone = [s for s in self._shared if s.connection is connection]
        self._shared = [s for s in self._shared if s.connection is not connection]
        for shared in gone:
            shared.lost()

    def _room(self, connection: AbstractConnection) -> int:
        """How many shared channels `connection` may hold."""
        if self._channels_per_connection is not None:
            return self._channels_per_connection
        return max(1, _channel_max(connection) - self._probe_count - CHANNEL_HEADROOM)

    async def _connected(self) -> AbstractConnection:
        async with self._connect_lock:
            if self._connection is None or not _alive(self._connection):
                self._drop(self._connection)  # their channels died with the old connection
                self._connection = await connect_any(self._urls, f"{self._name}-devices")
                self._probes.clear()
            return self._connection


def _forget(tasks: set[asyncio.Future[None]]) -> Callable[[asyncio.Future[None]], None]:
    def done(task: asyncio.Future[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("closing a probe channel: %r", task.exception())

    return done


CHANNEL_HEADROOM = 8
"""Channel numbers a connection keeps free beyond the probes (aiormq's own, races)."""
DEFAULT_CHANNEL_MAX = 2047
"""RabbitMQ's default `channel_max`, when the connection does not say what it negotiated."""


def _channel_max(connection: AbstractConnection) -> int:
    """The `channel_max` the broker negotiated for `connection` (0 means no limit)."""
    tune = getattr(getattr(connection.transport, "connection", None), "connection_tune", None)
    negotiated = int(getattr(tune, "channel_max", 0) or 0)
    return min(negotiated or 65535, 65535) if tune is not None else DEFAULT_CHANNEL_MAX


def _alive(connection: AbstractConnection | None) -> bool:
    """Open and connected: a plain connection lost by the broker is not `is_closed` (aio-pika
    only clears `connected`), and must be replaced, not reused."""
    if connection is None or connection.is_closed:
        return False
    connected: asyncio.Event | None = getattr(connection, "connected", None)
    return connected is None or connected.is_set()
