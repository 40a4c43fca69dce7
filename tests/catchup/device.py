"""A device written from docs/protocol.md alone: auth frame (with the cursor of the last event
it got, once it has one), hello, `ack=client` acks at half window, dedupe by `id`, and catch-up:
a hello's `active_run` is the run's state up to its `seq`, later events of that run extend it
and earlier ones are skipped."""

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets


async def dev_token(base: str, user: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.post("/ai/dev/token", json={"user_id": user})
        answer.raise_for_status()
        return str(answer.json()["token"])


@dataclass
class RunText:
    """One run as a device reconstructs it."""

    run_id: str
    seq: int = 0
    text: str = ""
    holes: list[tuple[int, int]] = field(default_factory=list)
    ended: bool = False

    def catch_up(self, active: dict[str, Any]) -> None:
        self.seq, self.text = int(active["seq"]), str(active["text"])

    def take(self, event: dict[str, Any]) -> None:
        seq = int(event["seq"])
        if seq <= self.seq:
            return  # already in the state (the docs: clients skip them)
        if seq != self.seq + 1:
            self.holes.append((self.seq, seq))
        self.seq = seq
        if event["type"] == "token":
            self.text += event["data"]["token"]
        self.ended = self.ended or event["type"] == "run_end"


class Device:
    def __init__(self, base: str, session_id: str, client_id: str, token: str) -> None:
        ws_base = base.replace("http://", "ws://")
        self.url = f"{ws_base}/ai/ws/{session_id}?client_id={client_id}&ack=client"
        self.token = token
        self.ws: websockets.ClientConnection | None = None
        self.hello: dict[str, Any] = {}
        self.runs: dict[str, RunText] = {}
        self.seen: set[str] = set()
        self._unacked = 0
        self._last_id = ""
        self.cursor: str | None = None

    async def connect(self) -> dict[str, Any]:
        self.ws = await websockets.connect(self.url, open_timeout=10)
        auth = {"type": "auth", "token": self.token}
        if self.cursor is not None:
            auth["cursor"] = self.cursor
        await self.ws.send(json.dumps(auth))
        self.hello = json.loads(await self.ws.recv())
        assert self.hello["type"] == "connected", self.hello
        self._unacked = 0
        active = self.hello.get("active_run")
        if active:
            self.run(active["run_id"]).catch_up(active)
        return self.hello

    def run(self, run_id: str) -> RunText:
        return self.runs.setdefault(run_id, RunText(run_id))

    async def next_event(self) -> dict[str, Any]:
        """The next event not seen before (acked every half window, as the docs ask)."""
        assert self.ws is not None
        while True:
            frame = json.loads(await self.ws.recv())
            if "id" not in frame:
                continue
            self._unacked += 1
            self._last_id = frame["id"]
            self.cursor = frame.get("cursor") or self.cursor
            if self._unacked >= self.hello["ack_window"] // 2:
                await self.ack()
            if frame["id"] in self.seen:
                continue
            self.seen.add(frame["id"])
            if frame.get("run_id"):
                self.run(frame["run_id"]).take(frame)
            return dict(frame)

    async def ack(self) -> None:
        assert self.ws is not None
        if self._unacked:
            await self.ws.send(json.dumps({"type": "ack", "id": self._last_id}))
            self._unacked = 0

    async def until(self, run_id: str, tokens: int | None = None) -> RunText:
        """Receive until the run ended (or its text holds `tokens` tokens)."""
        run = self.run(run_id)
        while not run.ended and (tokens is None or run.text.count(" ") < tokens):
            await self.next_event()
        await self.ack()
        return run

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
