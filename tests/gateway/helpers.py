"""Test helpers: gateway processes, tokens, WebSocket clients and publishing."""

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
import websockets
from switchboard_edge.auth import AuthSettings, issue_dev_token
from switchboard_events import BrokerSettings, Publisher, RunStream, broker_connection, new_id
from switchboard_events.routing import names_from
from switchboard_stack import ServiceProcess, broker_env, free_port
from websockets.asyncio.client import ClientConnection

AUDIENCE = "switchboard"
AUTH = AuthSettings(JWT_AUDIENCE=AUDIENCE)

GATEWAY_ENV = {"JWT_AUDIENCE": AUDIENCE}
"""What every test gateway needs (the test tokens' audience); every limit is the shipped
default. A test that checks another value passes it to `start_gateway` / `stack.gateway()`."""


def token(user: str = "alice", ttl_s: int = 3600) -> str:
    return issue_dev_token(user, AUTH, ttl_s=ttl_s)


def foreign_token(user: str = "alice") -> str:
    """Signed with the right key but for another audience (-> 4403)."""
    now = int(time.time())
    claims = {"sub": user, "exp": now + 600, "aud": "elsewhere"}
    return jwt.encode(claims, AUTH.jwt_secret.get_secret_value(), algorithm="HS256")


@dataclass
class Gateway:
    proc: ServiceProcess
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(
        self, session_id: str, client_id: str = "default", ack: str = "auto", cursor: str = ""
    ) -> str:
        url = f"ws://127.0.0.1:{self.port}/ai/ws/{session_id}?client_id={client_id}&ack={ack}"
        return f"{url}&cursor={cursor}" if cursor else url


async def start_gateway(
    broker: BrokerSettings, session_url: str, ready: str = "/ai/health", **overrides: str
) -> Gateway:
    port = free_port()
    env = {**GATEWAY_ENV, **broker_env(broker), "SESSION_URL": session_url, **overrides}
    proc = ServiceProcess("switchboard-gateway", ["--host", "127.0.0.1", "--port", str(port)], env)
    proc.start()
    await proc.wait_http(f"http://127.0.0.1:{port}{ready}")
    return Gateway(proc, port)


async def connect(
    gw: Gateway,
    session_id: str,
    client_id: str = "default",
    ack: str = "auto",
    tok: str | None = None,
    cursor: str | None = None,
    **kwargs: Any,
) -> tuple[ClientConnection, dict[str, Any]]:
    """A connected, authenticated client and the gateway's hello; `cursor` goes in the auth
    frame (the position to resume after)."""
    ws = await websockets.connect(gw.ws_url(session_id, client_id, ack), **kwargs)
    auth: dict[str, Any] = {"type": "auth", "token": tok or token()}
    if cursor is not None:
        auth["cursor"] = cursor
    await ws.send(json.dumps(auth))
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "connected", hello
    return ws, hello


async def close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read until the server closes; its close code."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    return ws.close_code


async def recv_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def frame_of(ws: ClientConnection, kind: str, timeout: float = 10) -> dict[str, Any]:
    """The next frame of type `kind` (events and other frames before it are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame


async def events(ws: ClientConnection, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The next `n` events (skipping non-event frames)."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            frame = json.loads(await ws.recv())
            if "id" in frame:
                got.append(frame)
    return got


class Emitter:
    """Publishes runs' events with the real Publisher/RunStream."""

    def __init__(self, broker: BrokerSettings) -> None:
        self.broker = broker

    async def run(
        self, session_id: str, n: int, pause_every: int = 0, pause_s: float = 0.0, pad: int = 0
    ) -> list[str]:
        """Publish `n` token events of one run; their ids in order."""
        async with broker_connection(self.broker, "test-emitter") as conn:
            channel = await conn.channel(publisher_confirms=True)
            publisher = await Publisher(channel, names_from(self.broker), self.broker).start()
            stream = RunStream(publisher, session_id=session_id, run_id=new_id())
            ids = []
            for i in range(n):
                event = await stream.emit("token", {"token": f"t{i + 1} " + "x" * pad})
                ids.append(event.id)
                if pause_every and (i + 1) % pause_every == 0:
                    await asyncio.sleep(pause_s)
            await stream.drain()
            return ids
