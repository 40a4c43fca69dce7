"""The state of one device connection, shared by its sender, receiver and expiry timer."""

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket
from switchboard_protocol import new_id

from . import closes
from .parts import SocketParts
from .ratelimit import TokenBucket
from .subscription import Subscription
from .typing_gate import TypingGate

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Caller:
    """Who connected, to what, as established by the handshake."""

    session_id: str
    client_id: str
    user_id: str
    token: str
    expires_at: float
    mode: str
    agent_type: str
    active_run_id: str | None = None
    """The session's run in progress when the device was let in."""
    cursor: str | None = None
    """The position the device resumes after (query `cursor=` or the auth frame's)."""
    idle_at: tuple[int, int] | None = None
    """(shard, position) when the device check read the session with no run in progress as of
    that offset (upstream.Answer.idle_at): where a device without a cursor starts."""


class Connection:
    def __init__(self, ws: WebSocket, parts: SocketParts, caller: Caller) -> None:
        settings = parts.settings
        self.id = new_id()
        self.ws = ws
        self.parts = parts
        self.caller = caller
        self.sub: Subscription | None = None
        """The device's events, once subscribed (endpoint.py)."""
        self.bucket = TokenBucket(settings.frame_rate_per_s, settings.frame_burst)
        self.bad_frames = 0
        self.sender_done = False
        self.stop_code: int | None = None
        self.stop_reason = ""
        self._background: set[asyncio.Task[None]] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._typing: TypingGate | None = None

    @property
    def device(self) -> tuple[str, str]:
        return self.caller.session_id, self.caller.client_id

    @property
    def user_id(self) -> str:
        return self.caller.user_id

    async def send(self, text: str) -> None:
        """One text frame (frames are written whole, so concurrent senders need no lock)."""
        await self.ws.send_text(text)

    def stop(self, code: int, reason: str = "") -> None:
        """Ask the sender to end the connection with `code` at the next message boundary."""
        if self.stop_code is not None:
            return
        self.stop_code, self.stop_reason = code, reason
        self.wake()

    def wake(self) -> None:
        """Make a waiting sender look at the connection's state."""
        if self.sub is not None:
            self.sub.wake()

    def watch_expiry(self) -> None:
        """Close 4401 when the token expires; a `refresh` moves the deadline (call again).
        A timer, not a task: an idle connection should cost no coroutine frames."""
        if self._expiry is not None:
            self._expiry.cancel()
        loop = asyncio.get_running_loop()
        left = self.caller.expires_at - time.time()
        self._expiry = loop.call_at(loop.time() + max(0.0, left), self._expired)

    def _expired(self) -> None:
        self._expiry = None
        if self.caller.expires_at - time.time() > 0:  # refreshed meanwhile (clocks drift)
            self.watch_expiry()
            return
        self.stop(closes.UNAUTHENTICATED, "token expired")

    def typing(self, publish: Callable[[], None]) -> None:
        """Publish this device's `typing` event, coalesced (typing_gate.py)."""
        if self._typing is None:
            self._typing = TypingGate(self.parts.settings.typing_interval_s)
        self._typing.offer(publish)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a client request (upstream call) without blocking the receiver."""
        task = asyncio.create_task(work)
        if self._background is None:
            self._background = set()
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._background is not None:
            self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("request task failed: %r", task.exception())

    def cancel_background(self) -> None:
        """Stop request tasks and the expiry timer (the connection is over)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._typing is not None:
            self._typing.cancel()
        for task in self._background or ():
            task.cancel()
