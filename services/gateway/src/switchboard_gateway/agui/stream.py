"""One AG-UI SSE stream: a subscription to the session's events (fanout.subscribe), announced
as the device's connection (live.py: a takeover or a shutdown ends it), its events mapped
(mapping.py), each SSE event with the stream position it stands at (cursor.py)."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from switchboard_protocol import new_id

from ..lines import Frame
from ..live import Device, LiveSockets
from ..parts import SocketParts
from ..subscription import SlowConsumer, Subscription
from .mapping import RunMapper
from .resume import Adopt

log = logging.getLogger(__name__)

KEEP_ALIVE = ": keep-alive\n\n"


class AguiStream:
    def __init__(self, parts: SocketParts, live: LiveSockets, user_id: str, device: Device) -> None:
        self.id = new_id()
        self.parts = parts
        self.live = live
        self.user_id = user_id
        """The caller (live.py counts a user's connections, for `GET /ai/stats`)."""
        self.device = device
        """(session id, client id)."""
        self.sub: Subscription | None = None
        self.stop_code: int | None = None

    def stop(self, code: int, reason: str = "") -> None:
        """End the stream at the next event boundary (the client resumes with Last-Event-ID)."""
        if self.stop_code is None:
            self.stop_code = code
            if self.sub is not None:
                self.sub.wake()

    async def open(self, position: str | None) -> Subscription:
        """Announce the stream (the device's older streams end, on every replica) and subscribe
        to the session's events after stream `position` (None, or not recovered: after the
        subscription's catch-up state)."""
        self.live.register(self)
        session_id, client_id = self.device
        try:
            await self.parts.control.request_release(session_id, client_id, self.id)
            self.sub = await self.parts.fanout.subscribe(session_id, position)
        except BaseException:
            await self.close()
            raise
        self.parts.metrics.joins.labels("cursor" if self.sub.recovered else "catch_up").inc()
        return self.sub

    async def close(self) -> None:
        sub, self.sub = self.sub, None
        try:
            if sub is not None:
                self.parts.metrics.replayed.inc(sub.replayed)
                await sub.close()
        finally:
            self.live.unregister(self)

    async def events(
        self, prelude: list[str], mapper: RunMapper | None, adopt: Adopt | None = None
    ) -> AsyncIterator[str]:
        """`prelude`, then the run's events until it ends (or the stream is stopped); without a
        `mapper`, the first run `adopt` recognises (the session ending first ends the stream)."""
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
                for position, event in _events(frames):
                    if mapper is None and adopt is not None:
                        if event.get("type") == "session_end":
                            return
                        mapper = adopt(event, position)
                        if mapper is not None:
                            chunks.extend(mapper.started())
                    if mapper is not None:
                        chunks.extend(mapper.map(event, position))
                if chunks:
                    yield "".join(chunks)
        finally:
            await asyncio.shield(self.close())

    async def _next(self) -> list[Frame] | None:
        """The next frames, [] after HEARTBEAT_S without any, None when too far behind (the
        client resumes from its last id)."""
        assert self.sub is not None, "stream not open"
        try:
            return await self.sub.frames(self.parts.settings.heartbeat_s)
        except SlowConsumer:
            return None


def _events(frames: list[Frame]) -> list[tuple[str, dict[str, object]]]:
    """The events of these frames, parsed, each with its stream position."""
    out = []
    for frame in frames:
        try:
            event = json.loads(frame.text)
        except ValueError:
            log.warning("skipping an event that is not JSON: %r", frame.text[:200])
            continue
        if isinstance(event, dict):
            out.append((frame.cursor, event))
    return out
