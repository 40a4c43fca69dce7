"""A device's buffer queue on the broker: declared, consumed exclusively, taken over if held.

The consumer may live on a channel shared with other devices (pool.py), so this class never
lets an error reach that channel: it learns on the probe channel whether the queue exists and
whether someone consumes it, and consumes only when nobody does. On leaving, a device alone on
its channel (always with quorum queues) closes the channel, the one atomic release; one that
shares it cancels its consumer and nacks (requeue) its own unacked deliveries.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import AMQPError
from switchboard_events import Names, declare_device_queue
from switchboard_events.retry import RetryCallState, retry_for

from .closes import TRY_AGAIN, Close
from .control import Control
from .inbox import Inbox
from .pool import ChannelPool, SharedChannel
from .settings import GatewaySettings

log = logging.getLogger(__name__)


class _Held(Exception):
    """Another connection consumes the queue (or won the race to)."""


Delivery = AbstractIncomingMessage | None
"""A delivery for the sender; None wakes it to look at the connection's stop code."""

FIRST_PAUSE_S = 0.02
"""Pause before the first retry of a held device's consume (doubling up to 0.25 s)."""

_NACKING: set[asyncio.Future[None]] = set()
"""Nacks of deliveries that raced a consumer's cancel, referenced until they are sent."""


class DeviceQueue:
    """One connection's consumer of `ai.session.<sid>.<cid>`."""

    def __init__(
        self,
        pool: ChannelPool,
        control: Control,
        settings: GatewaySettings,
        names: Names,
        session_id: str,
        client_id: str,
    ) -> None:
        self._pool = pool
        self._control = control
        self._settings = settings
        self._names = names
        self.session_id = session_id
        self.client_id = client_id
        self.name = names.device_queue(session_id, client_id)
        self.inbox: Inbox[Delivery] = Inbox()
        self.unacked: dict[int, AbstractIncomingMessage] = {}
        self.closing = False
        self._by_close = False
        """Released by closing the channel: nothing more is acked or nacked on it."""
        self.on_lost: Callable[[], None] = lambda: None
        self._shared: SharedChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None

    async def declare(self) -> tuple[bool, int]:
        """(whether the queue existed, its consumer count); creates and binds it if missing."""
        async with self._pool.probing() as channel:
            try:
                queue = await channel.declare_queue(self.name, passive=True)
                return True, queue.declaration_result.consumer_count or 0
            except aio_pika.exceptions.ChannelClosed:
                pass  # missing; the probe channel is reopened below
        async with self._pool.probing() as channel:
            queue = await declare_device_queue(
                channel, self._names, self._settings, self.session_id, self.client_id
            )
            return False, queue.declaration_result.consumer_count or 0

    async def open(self, requester: str, prefetch: int, fresh: bool = False) -> tuple[bool, bool]:
        """Consume exclusively, asking a holder to let go (at most once a second, while
        retrying for TAKEOVER_TIMEOUT_S): (resumed, taken over). The first try goes without
        building a retrier: nobody holds a device's queue on most connects. `fresh`: drop
        what the buffer holds first (an AG-UI stream that starts from the catch-up state)."""
        try:
            return await self._open_once(prefetch, fresh), False
        except _Held:
            pass
        asked_at: float | None = None

        async def ask(_: RetryCallState | None) -> None:
            nonlocal asked_at
            now = time.monotonic()
            if asked_at is None or now - asked_at > 1.0:
                await self._control.request_release(self.name, requester)
                asked_at = now

        await ask(None)  # as the retrier would have before its first pause
        await asyncio.sleep(FIRST_PAUSE_S)
        timeout = self._settings.takeover_timeout_s
        retrying = retry_for(timeout, _Held, FIRST_PAUSE_S, max_every=0.25, before_sleep=ask)
        try:
            existed: bool = await retrying(self._open_once, prefetch, fresh)
        except _Held:
            raise Close(TRY_AGAIN, "device is held by another connection") from None
        return existed, asked_at is not None

    async def _open_once(self, prefetch: int, fresh: bool = False) -> bool:
        """Consume if nobody does: whether the queue existed; raises _Held."""
        existed, consumers = await self.declare()
        if consumers == 0 and existed and fresh:
            await self._purge()
        if consumers == 0 and await self._consume(prefetch):
            return existed
        raise _Held

    async def _purge(self) -> None:
        """Drop the messages ready in the queue (on a probe channel: an error there closes no
        device's channel)."""
        async with self._pool.probing() as channel:
            queue = await channel.get_queue(self.name, ensure=False)
            await queue.purge()

    async def _consume(self, prefetch: int) -> bool:
        """Join a shared channel and consume; False when another consumer won a race."""
        shared = await self._pool.join(prefetch, id(self), self._lost)
        try:
            self._queue = await self._pool.queue(shared, self.name)
            # a plain function: aio-pika then calls it without a task per delivery
            deliver = cast(Callable[[AbstractIncomingMessage], Awaitable[None]], self._deliver)
            self._tag = await self._queue.consume(deliver, exclusive=True)
        except (AMQPError, aio_pika.exceptions.ChannelClosed) as exc:
            self._pool.leave(shared, id(self))
            log.info("consume of %s refused (%r); retrying", self.name, exc)
            return False
        self._shared = shared
        return True

    def _deliver(self, message: AbstractIncomingMessage) -> None:
        """Hand a delivery to the sender, in order; one that raced the consumer's cancel goes
        back to the queue."""
        if self._by_close:
            return  # the channel's close gives it back
        if self.closing:
            task = asyncio.ensure_future(_give_back(message))
            _NACKING.add(task)
            task.add_done_callback(_NACKING.discard)
            return
        self.unacked[message.delivery_tag or 0] = message
        self.inbox.put_nowait(message)

    async def ack(self, messages: Iterable[AbstractIncomingMessage]) -> None:
        """Ack these deliveries one by one (tags are shared with other devices' consumers, so
        never `multiple`), queued for the socket without waiting for each write to drain."""
        if self._by_close:
            return  # released: a write on the closing channel would fail the connection
        for message in messages:
            tag = message.delivery_tag or 0
            if self.unacked.pop(tag, None) is not None:
                await message.channel.basic_ack(tag, wait=False)

    def _lost(self) -> None:
        self._shared = None
        self.unacked.clear()
        if not self.closing:
            log.warning("channel of %s lost", self.name)
            self.on_lost()

    async def close(self) -> None:
        """Give every unacked delivery back to the queue and stop consuming: by closing the
        channel when this device is alone on it (atomic, see `ChannelPool.close_alone`),
        else by cancelling the consumer and nacking its deliveries."""
        self.closing = True
        shared, self._shared = self._shared, None
        if shared is None or self._queue is None or self._tag is None:
            return
        try:
            if self._pool.alone(shared, id(self)):
                self._by_close = True  # nothing more is written on the channel
                await self._pool.close_alone(shared, id(self))
                return
            await self._queue.cancel(self._tag)
            await asyncio.sleep(0)  # deliveries that raced the cancel reach _deliver first
            for message in list(self.unacked.values()):
                await message.nack(requeue=True)
        except Exception as exc:  # noqa: BLE001 - a dying channel returns them anyway
            log.debug("releasing %s: %r", self.name, exc)
        finally:
            self.unacked.clear()
            self._pool.leave(shared, id(self))
            self._drain_inbox()

    def _drain_inbox(self) -> None:
        self.inbox.clear()


async def _give_back(message: AbstractIncomingMessage) -> None:
    """Nack (requeue) a delivery that raced the release; a channel closing meanwhile gives it
    back anyway."""
    try:
        await message.nack(requeue=True)
    except Exception as exc:  # noqa: BLE001 - the channel is going: the broker requeues it
        log.debug("giving back a delivery: %r", exc)
