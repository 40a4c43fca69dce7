"""A Switchboard client written from docs/protocol.md alone: httpx for REST, raw `websockets`
for the event stream. It imports nothing of the SDK or the services, on purpose: it is what a
newcomer would write from the document, and the suite checks the server keeps its word.

What it follows from docs/protocol.md:
- REST: `POST /ai/dev/token`, `POST /ai/sessions`, `POST /ai/sessions/{id}/message` (202
  `{"message_id", "run_id"}`), all with `Authorization: Bearer`.
- WebSocket `GET /ai/ws/{id}?client_id=&ack=auto|client`: first frame `auth` (with the
  `cursor` of the last event processed, when there is one), then the hello
  `{"type": "connected", ..., "recovered", "ack_window"}`, then one event per text frame, each
  with its `cursor` (positions, v2).
- Acks are accepted and change nothing; a v1 client acks every half window: with
  `ack=client` this one acks exactly every half window (cumulative: the newest event's id)
  and never because the stream went quiet.
- Dedupe by `id`; `run_id` + `seq` order a run's events. The cursor of the last event
  processed is kept (`Device.cursor`) and sent on `connect()` again: `recovered: true`, then
  the events after it.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect


@dataclass
class Received:
    """One event as it arrived: the parsed frame and the wall-clock time of its arrival."""

    at: float
    event: dict[str, Any]

    @property
    def produced(self) -> float:
        """The event's own `timestamp` (when the producer emitted it), in epoch seconds."""
        return datetime.fromisoformat(self.event["timestamp"].replace("Z", "+00:00")).timestamp()


class Rest:
    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=15, headers={"Authorization": f"Bearer {token}"}
        )

    @staticmethod
    async def dev_token(base_url: str, user_id: str) -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
            answer = await http.post("/ai/dev/token", json={"user_id": user_id})
        answer.raise_for_status()
        return str(answer.json()["token"])

    async def create_session(self) -> str:
        answer = await self.http.post("/ai/sessions", json={"agent_type": "personal"})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def send(self, session_id: str, content: str) -> str:
        """The new run's id."""
        answer = await self.http.post(
            f"/ai/sessions/{session_id}/message", json={"content": content, "metadata": {}}
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["run_id"])

    async def delete_session(self, session_id: str) -> None:
        answer = await self.http.delete(f"/ai/sessions/{session_id}")
        assert answer.status_code == 204, answer.text

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class Device:
    """One device's socket: receives events, dedupes by id, acks every half window."""

    ws_base: str
    session_id: str
    client_id: str
    token: str
    ack: str
    hello: dict[str, Any] = field(default_factory=dict)
    events: list[Received] = field(default_factory=list)
    duplicates: int = 0
    acks_sent: list[str] = field(default_factory=list)
    cursor: str | None = None
    """The `cursor` of the last event processed: sent in the auth frame of the next connect."""
    frames_after_hello: list[dict[str, Any]] = field(default_factory=list)
    """Control frames (no `id`) received, in order."""
    _ws: ClientConnection | None = None
    _seen: set[str] = field(default_factory=set)
    _since_ack: int = 0

    @property
    def url(self) -> str:
        return f"{self.ws_base}/ai/ws/{self.session_id}?client_id={self.client_id}&ack={self.ack}"

    async def connect(self) -> dict[str, Any]:
        """Open the socket, authenticate with the first frame (with the cursor, when this
        device processed an event before), and return the hello."""
        self._ws = await connect(self.url, open_timeout=10)
        auth = {"type": "auth", "token": self.token}
        if self.cursor is not None:
            auth["cursor"] = self.cursor
        await self._ws.send(json.dumps(auth))
        async with asyncio.timeout(10):
            self.hello = json.loads(await self._ws.recv())
        assert self.hello.get("type") == "connected", self.hello
        return self.hello

    async def receive_run(self, run_id: str, up_to_seq: int | None = None) -> list[Received]:
        """This run's events (deduplicated, in arrival order) up to its `run_end` (or up to
        the event `up_to_seq` of it)."""
        while True:
            frame = await self.next_frame()
            if "id" not in frame:  # control frames (pong, error) carry no id
                assert frame.get("type") != "error", frame
                continue
            if frame.get("run_id") == run_id and (
                frame["type"] == "run_end" or frame.get("seq") == up_to_seq
            ):
                return [r for r in self.events if r.event.get("run_id") == run_id]

    async def next_frame(self) -> dict[str, Any]:
        """The next frame; an event is counted (acked every half window), deduplicated and
        kept in `events`, and its cursor becomes this device's position."""
        assert self._ws is not None
        raw = await self._ws.recv()
        at = time.time()
        frame: dict[str, Any] = json.loads(raw)
        if "id" not in frame:
            self.frames_after_hello.append(frame)
            return frame
        await self._count(frame["id"])
        assert isinstance(frame.get("cursor"), str), f"an event without a cursor: {frame}"
        self.cursor = frame["cursor"]
        if frame["id"] in self._seen:
            self.duplicates += 1
        else:
            self._seen.add(frame["id"])
            self.events.append(Received(at, frame))
        return frame

    async def _count(self, event_id: str) -> None:
        """`ack=client`: every half window, ack the newest event (covers every earlier one)."""
        if self.ack != "client":
            return
        self._since_ack += 1
        if self._since_ack >= max(1, int(self.hello["ack_window"]) // 2):
            assert self._ws is not None
            await self._ws.send(json.dumps({"type": "ack", "id": event_id}))
            self.acks_sent.append(event_id)
            self._since_ack = 0

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


class LoopStalls:
    """When this process's event loop could not run: frames that reached the socket meanwhile
    are timed only when it runs again, so such time says nothing about the server."""

    def __init__(self, tick_s: float = 0.005) -> None:
        self.tick_s = tick_s
        self.stalls: list[tuple[float, float]] = []

    async def watch(self) -> None:
        while True:
            before = time.time()
            await asyncio.sleep(self.tick_s)
            late = time.time() - before - self.tick_s
            if late > 0.002:
                self.stalls.append((time.time() - late, time.time()))

    def within(self, start: float, end: float) -> float:
        """Seconds of stall between `start` and `end`."""
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.stalls)
