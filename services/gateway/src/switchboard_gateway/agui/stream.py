"""One AG-UI SSE stream: the device buffer it reads (as a WebSocket would, so a takeover or a
shutdown ends it: live.py), its events mapped (mapping.py) and acked once written."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

from aio_pika.abc import AbstractIncomingMessage
from switchboard_protocol import new_id

from ..device import DeviceQueue
from ..live import LiveSockets
from ..parts import SocketParts
from .mapping import RunMapper

log = logging.getLogger(__name__)

KEEP_ALIVE = ": keep-alive\n\n"
Adopt = Callable[[dict[str, object]], RunMapper | None]
"""For a stream waiting for the session's next run: a mapper for the run an event starts."""


class AguiStream:
    def __init__(
        self, parts: SocketParts, live: LiveSockets, session_id: str, client_id: str
    ) -> None:
        self.id = new_id()
        self.parts = parts
        self.live = live
        self.device = DeviceQueue(
            parts.pool, parts.control, parts.settings, parts.names, session_id, client_id
        )
        self.device.on_lost = lambda: self.stop(1011, "broker connection lost")
        self.consuming = False
        self.stop_code: int | None = None

    def stop(self, code: int, reason: str = "") -> None:
        """End the stream at the next event boundary (the client resumes with Last-Event-ID)."""
        if self.stop_code is None:
            self.stop_code = code
            self.device.inbox.put_nowait(None)

    async def open(self, fresh: bool) -> None:
        """Take the device's buffer (any holder lets go); `fresh` empties it first."""
        self.live.register(self)
        try:
            await self.device.open(self.id, self.parts.settings.prefetch, fresh)
        except BaseException:
            await self.close()
            raise
        self.consuming = True

    async def close(self) -> None:
        self.consuming = False
        try:
            await self.device.close()
        finally:
            self.live.unregister(self)

    async def events(
        self, prelude: list[str], mapper: RunMapper | None, adopt: Adopt | None = None
    ) -> AsyncIterator[str]:
        """`prelude`, then the run's events until it ends (or the stream is stopped); without a
        `mapper`, the first run `adopt` recognises."""
        try:
            if prelude:
                yield "".join(prelude)
            while mapper is None or not mapper.done:
                message = await self._next()
                if self.stop_code is not None:
                    return
                if message is None:
                    yield KEEP_ALIVE
                    continue
                chunks: list[str] = []
                for event in _events(message):
                    if mapper is None and adopt is not None:
                        mapper = adopt(event)
                        if mapper is not None:
                            chunks.extend(mapper.started())
                    if mapper is not None:
                        chunks.extend(mapper.map(event))
                if chunks:
                    yield "".join(chunks)
                await self.device.ack((message,))
        finally:
            await asyncio.shield(self.close())

    async def _next(self) -> AbstractIncomingMessage | None:
        """The next delivery, or None after HEARTBEAT_S without one (or when woken to stop)."""
        try:
            async with asyncio.timeout(self.parts.settings.heartbeat_s):
                return await self.device.inbox.get()
        except TimeoutError:
            return None


def _events(message: AbstractIncomingMessage) -> list[dict[str, object]]:
    """The events of one broker message (one JSON object per line)."""
    out = []
    for line in message.body.decode().split("\n"):
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("skipping an event that is not JSON: %r", line[:200])
            continue
        if isinstance(event, dict):
            out.append(event)
    return out
