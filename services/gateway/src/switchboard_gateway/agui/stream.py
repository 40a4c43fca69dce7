"""One AG-UI SSE stream: a subscription to the session's events (as a WebSocket has, so a
takeover or a shutdown ends it: live.py), its events mapped (mapping.py)."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

from switchboard_protocol import new_id

from ..lines import Frame
from ..live import LiveSockets
from ..parts import SocketParts
from ..subscription import SlowConsumer, Subscription
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
        self.device = (session_id, client_id)
        self.sub: Subscription | None = None
        self.stop_code: int | None = None

    def stop(self, code: int, reason: str = "") -> None:
        """End the stream at the next event boundary (the client resumes with Last-Event-ID)."""
        if self.stop_code is None:
            self.stop_code = code
            if self.sub is not None:
                self.sub.wake()

    async def open(self, fresh: bool) -> None:
        """Announce the stream (the device's older streams end) and subscribe to the session's
        events after the catch-up state. (`fresh`: kept for the routes; a subscription
        without a cursor always starts there.)"""
        self.live.register(self)
        session_id, client_id = self.device
        try:
            await self.parts.control.request_release(session_id, client_id, self.id)
            self.sub = await self.parts.fanout.subscribe(session_id, None)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        try:
            if self.sub is not None:
                await self.sub.close()
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
                frames = await self._next()
                if self.stop_code is not None or frames is None:
                    return
                if not frames:
                    yield KEEP_ALIVE
                    continue
                chunks: list[str] = []
                for event in _events(frames):
                    if mapper is None and adopt is not None:
                        mapper = adopt(event)
                        if mapper is not None:
                            chunks.extend(mapper.started())
                    if mapper is not None:
                        chunks.extend(mapper.map(event))
                if chunks:
                    yield "".join(chunks)
        finally:
            await asyncio.shield(self.close())

    async def _next(self) -> list[Frame] | None:
        """The next frames, [] after HEARTBEAT_S without any, None when too far behind."""
        assert self.sub is not None, "stream not open"
        try:
            return await self.sub.frames(self.parts.settings.heartbeat_s)
        except SlowConsumer:
            return None


def _events(frames: list[Frame]) -> list[dict[str, object]]:
    """The events of these frames, parsed."""
    out = []
    for frame in frames:
        try:
            event = json.loads(frame.text)
        except ValueError:
            log.warning("skipping an event that is not JSON: %r", frame.text[:200])
            continue
        if isinstance(event, dict):
            out.append(event)
    return out
