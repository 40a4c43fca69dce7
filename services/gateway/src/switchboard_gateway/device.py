"""A device's buffer queue on the broker: declared, consumed exclusively, taken over if held."""

import asyncio
import logging
import time
from collections.abc import Callable

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import ChannelAccessRefused, ChannelLockedResource
from switchboard_events import Names, declare_device_queue

from .closes import TRY_AGAIN, Close
from .control import Control
from .pool import ChannelPool
from .settings import GatewaySettings

log = logging.getLogger(__name__)

Inbox = asyncio.Queue[AbstractIncomingMessage | None]
"""Deliveries for the sender; None wakes it to look at the connection's stop code."""


class DeviceQueue:
    """One connection's consumer of `ai.session.<sid>.<cid>` (on its own channel)."""

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
        self.inbox: Inbox = asyncio.Queue()
        self.channel: AbstractChannel | None = None
        self.closing = False
        self.on_lost: Callable[[], None] = lambda: None

    async def exists(self) -> bool:
        return await self._pool.queue_exists(self.name)

    async def open(self, requester: str, prefetch: int) -> bool:
        """Declare and consume exclusively, asking the holder to let go; True if taken over."""
        deadline = time.monotonic() + self._settings.takeover_timeout_s
        asked_at: float | None = None
        delay = 0.02
        while True:
            channel = await self._pool.channel(prefetch)
            try:
                queue = await declare_device_queue(
                    channel, self._names, self._settings, self.session_id, self.client_id
                )
                await self._consume(channel, queue)
                return asked_at is not None
            except (ChannelAccessRefused, ChannelLockedResource):
                await _close_quietly(channel)
            now = time.monotonic()
            if now > deadline:
                raise Close(TRY_AGAIN, "device is held by another connection")
            if asked_at is None or now - asked_at > 1.0:
                await self._control.request_release(self.name, requester)
                asked_at = now
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def _consume(self, channel: AbstractChannel, queue: AbstractQueue) -> None:
        inbox = self.inbox

        async def deliver(message: AbstractIncomingMessage) -> None:
            inbox.put_nowait(message)

        await queue.consume(deliver, exclusive=True)
        self.channel = channel
        channel.close_callbacks.add(self._closed)

    def _closed(self, *_: object) -> None:
        if not self.closing:
            log.warning("channel of %s lost", self.name)
            self.on_lost()

    async def close(self) -> None:
        """Close the channel: every unacked delivery goes back to the queue."""
        self.closing = True
        if self.channel is not None:
            await _close_quietly(self.channel)


async def _close_quietly(channel: AbstractChannel) -> None:
    if channel.is_closed:
        return
    try:
        await channel.close()
    except Exception as exc:  # noqa: BLE001 - a dying channel has nothing left to lose
        log.debug("closing channel: %r", exc)
