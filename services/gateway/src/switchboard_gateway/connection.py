"""The state of one device connection, shared by its sender, receiver and expiry watcher."""

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket
from switchboard_events import new_id

from .device import DeviceQueue
from .ratelimit import TokenBucket
from .window import AckWindow

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)


@dataclass
class Caller:
    """Who connected, to what, as established by the handshake."""

    session_id: str
    client_id: str
    client_acks: bool
    user_id: str
    token: str
    expires_at: float
    mode: str
    agent_type: str


class Connection:
    def __init__(self, ws: WebSocket, hub: "Hub", caller: Caller) -> None:
        settings = hub.settings
        self.id = new_id()
        self.ws = ws
        self.hub = hub
        self.caller = caller
        self.device = DeviceQueue(
            hub.pool, hub.control, settings, hub.names, caller.session_id, caller.client_id
        )
        self.device.on_lost = lambda: self.stop(1011, "broker connection lost")
        self.window = AckWindow(settings.ack_window) if caller.client_acks else None
        self.bucket = TokenBucket(settings.frame_rate_per_s, settings.frame_burst)
        self.bad_frames = 0
        self.consuming = False
        self.stop_code: int | None = None
        self.stop_reason = ""
        self._background: set[asyncio.Task[None]] = set()

    async def send(self, text: str) -> None:
        """One text frame (frames are written whole, so concurrent senders need no lock)."""
        await self.ws.send_text(text)

    def stop(self, code: int, reason: str = "") -> None:
        """Ask the sender to end the connection with `code` at the next message boundary."""
        if self.stop_code is not None:
            return
        self.stop_code, self.stop_reason = code, reason
        self.device.inbox.put_nowait(None)
        if self.window is not None:
            self.window.room.set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a client request (upstream call) without blocking the receiver."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("request task failed: %r", task.exception())

    def cancel_background(self) -> None:
        for task in self._background:
            task.cancel()
