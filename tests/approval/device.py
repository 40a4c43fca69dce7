"""A device for approval tests: every frame it receives, in order, and waits on them."""

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.catchup.device import dev_token

Frame = dict[str, Any]
WAIT_S = 30.0


class Device:
    def __init__(self, base: str, session_id: str, client_id: str, token: str) -> None:
        ws_base = base.replace("http://", "ws://")
        self.url = f"{ws_base}/ai/ws/{session_id}?client_id={client_id}"
        self.token = token
        self.frames: list[Frame] = []
        self.ws: websockets.ClientConnection | None = None

    async def connect(self) -> Frame:
        self.ws = await websockets.connect(self.url, open_timeout=10)
        await self.ws.send(json.dumps({"type": "auth", "token": self.token}))
        hello = json.loads(await self.ws.recv())
        assert hello["type"] == "connected", hello
        return dict(hello)

    async def send(self, frame: Frame) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def until(self, kind: str, run_id: str | None = None, after: int = 0) -> Frame:
        """The first frame of type `kind` (of run `run_id`) at index >= `after`; waits."""
        assert self.ws is not None
        async with asyncio.timeout(WAIT_S):
            index = after
            while True:
                while index < len(self.frames):
                    frame = self.frames[index]
                    index += 1
                    if frame["type"] == kind and (run_id is None or frame.get("run_id") == run_id):
                        return frame
                self.frames.append(json.loads(await self.ws.recv()))

    def run_events(self, run_id: str) -> list[Frame]:
        return [f for f in self.frames if f.get("run_id") == run_id]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def types(frames: list[Frame]) -> list[str]:
    return [f["type"] for f in frames]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_session(base: str, user: str) -> tuple[str, str]:
    """(token, session id) of a new session of `user`."""
    token = await dev_token(base, user)
    async with httpx.AsyncClient(base_url=base, headers=bearer(token)) as http:
        answer = await http.post("/ai/sessions", json={"client_id": "phone"})
        assert answer.status_code == 201, answer.text
        return token, str(answer.json()["id"])
