"""A Switchboard client written from docs/protocol.md alone: httpx for REST, raw `websockets`
for the event stream. It imports nothing of the SDK or the services, on purpose: it is what a
newcomer would write from the document, and the suite checks the server keeps its word.

What it follows from docs/protocol.md:
- REST: `POST /ai/dev/token`, `POST /ai/sessions`, `POST /ai/sessions/{id}/message` (202
  `{"message_id", "run_id"}`), all with `Authorization: Bearer`.
- WebSocket `GET /ai/ws/{id}?client_id=&ack=auto|client`: first frame `auth`, then the hello
  `{"type": "connected", ..., "ack_window"}`, then one event per text frame.
- `ack=client`: "ack at least every half window". This client acks exactly every half window
  (cumulative: the newest event's id) and never because the stream went quiet.
- At least once: dedupe by `id`; `run_id` + `seq` order a run's events.
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
    _ws: ClientConnection | None = None
    _seen: set[str] = field(default_factory=set)
    _since_ack: int = 0

    @property
    def url(self) -> str:
        return f"{self.ws_base}/ai/ws/{self.session_id}?client_id={self.client_id}&ack={self.ack}"

    async def connect(self) -> dict[str, Any]:
        """Open the socket, authenticate with the first frame, and return the hello."""
        self._ws = await connect(self.url, open_timeout=10)
        await self._ws.send(json.dumps({"type": "auth", "token": self.token}))
        async with asyncio.timeout(10):
            self.hello = json.loads(await self._ws.recv())
        assert self.hello.get("type") == "connected", self.hello
        return self.hello

    async def receive_run(self, run_id: str) -> list[Received]:
        """This run's events (deduplicated, in arrival order) up to its `run_end`."""
        assert self._ws is not None
        while True:
            raw = await self._ws.recv()
            at = time.time()
            frame = json.loads(raw)
            if "id" not in frame:  # control frames (pong, error) carry no id
                assert frame.get("type") != "error", frame
                continue
            await self._count(frame["id"])
            if frame["id"] in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(frame["id"])
            self.events.append(Received(at, frame))
            if frame.get("run_id") == run_id and frame["type"] == "run_end":
                return [r for r in self.events if r.event.get("run_id") == run_id]

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
