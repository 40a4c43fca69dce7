"""A test device: `ack=client`, dedupe by id, acks as docs/protocol.md says (every half
`ack_window`, and once more when it has what it waited for; never on an idle timer; acks do not
decide durability), remembers the cursor of the last event and reconnects with it.

It keeps the raw count of frames, the deduplicated events in arrival order, and the
redeliveries it dropped, so scenarios can assert (and report) lost / duplicated figures.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

Done = Callable[["Device"], bool]


class Device:
    def __init__(self, session_id: str, client_id: str, token: str) -> None:
        self.session_id = session_id
        self.client_id = client_id
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.redelivered = 0
        self.frames = 0
        self.connects = 0
        self.closes: list[int | None] = []
        self.ack_window = 256
        self._unacked: str | None = None
        self._since_ack = 0
        self.ws: ClientConnection | None = None
        self.last_event_at = 0.0
        self.first_event_at: list[float] = []
        """Per connection, when its first event (new or redelivered) arrived."""
        self._fresh = False
        self.cursor: str | None = None
        """The cursor of the last event received: sent in the auth frame of every reconnect."""
        self.recovered: list[bool] = []
        """Per connection made with a cursor, what its hello said."""
        self._kinds: set[tuple[str, str | None]] = set()
        self._types: set[str] = set()

    def url(self, base: str, ack: str = "client") -> str:
        host = base.replace("http://", "ws://")
        return f"{host}/ai/ws/{self.session_id}?client_id={self.client_id}&ack={ack}"

    async def connect(self, base: str, **kwargs: Any) -> dict[str, Any]:
        ws = await websockets.connect(self.url(base), max_size=None, open_timeout=10, **kwargs)
        auth = {"type": "auth", "token": self.token}
        if self.cursor is not None:
            auth["cursor"] = self.cursor
        await ws.send(json.dumps(auth))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "connected", hello
        if self.cursor is not None:
            self.recovered.append(bool(hello["recovered"]))
        self.ack_window = int(hello["ack_window"])
        self.ws, self.connects = ws, self.connects + 1
        self._unacked, self._since_ack = None, 0
        self._fresh = True
        return hello

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("run_id") == run_id]

    def has_type(self, kind: str, run_id: str | None = None) -> bool:
        """Whether an event of `kind` (of `run_id`, if given) arrived: a set lookup, since
        `pump`'s predicates ask it at every frame (a scan would make a long run quadratic)."""
        return (kind, run_id) in self._kinds if run_id is not None else kind in self._types

    async def pump(self, done: Done, timeout: float = 60.0) -> None:
        """Read until `done(self)`, acking every half window and at the end; ConnectionClosed
        propagates. Progress never waits on a timer: if the gateway stops sending before the
        device has acked half a window, that is the gateway's bug and this times out."""
        assert self.ws is not None
        half = max(1, self.ack_window // 2)
        async with asyncio.timeout(timeout):
            while not done(self):
                self._take(json.loads(await self.ws.recv()))
                if self._since_ack >= half:
                    await self.flush_ack()
        await self.flush_ack()

    def _take(self, frame: dict[str, Any]) -> None:
        self.frames += 1
        if "id" not in frame or "session_id" not in frame:
            return
        self._unacked, self._since_ack = frame["id"], self._since_ack + 1
        if frame.get("cursor"):
            self.cursor = frame["cursor"]
        self.last_event_at = time.monotonic()
        if self._fresh:
            self.first_event_at.append(self.last_event_at)
            self._fresh = False
        if frame["id"] in self.seen:
            self.redelivered += 1
            return
        self.seen.add(frame["id"])
        self._kinds.add((frame["type"], frame.get("run_id")))
        self._types.add(frame["type"])
        frame["_via"] = self.connects  # which connection brought it (for failure reports)
        self.events.append(frame)

    async def flush_ack(self) -> None:
        if self.ws is not None and self._unacked is not None and self.ws.state is State.OPEN:
            await self.ws.send(json.dumps({"type": "ack", "id": self._unacked}))
            self._unacked, self._since_ack = None, 0

    async def follow(self, bases: Callable[[], str], done: Done, timeout: float = 90.0) -> int:
        """Pump until done, reconnecting (to `bases()`) whenever the connection drops.
        Returns how many times it had to reconnect."""
        drops = 0
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if self.ws is None:
                        await self.connect(bases())
                    await self.pump(done, timeout)
                    return drops
                except (
                    websockets.ConnectionClosed,
                    websockets.InvalidHandshake,
                    OSError,
                    TimeoutError,
                ) as exc:
                    if isinstance(exc, websockets.ConnectionClosed):
                        self.closes.append(exc.rcvd.code if exc.rcvd else None)
                    drops += 1
                    await self.drop()
                    await asyncio.sleep(0.2)

    async def drop(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.transport.abort()
                await ws.close()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.flush_ack()
                await self.ws.close()
        self.ws = None

    def recovered_after(self, moment: float) -> float:
        """Seconds from `moment` to the first event of the first connection made after it."""
        later = [t for t in self.first_event_at if t > moment]
        assert later, "no event arrived after the fault"
        return round(later[0] - moment, 3)
