"""Raw WebSocket helpers for hostile-input tests."""

import asyncio
import json
from typing import Any

import httpx
import websockets


def ws_base(http_base: str) -> str:
    return http_base.replace("http://", "ws://")


async def close_code_of(url: str, token: str | None, timeout: float = 10) -> int | None:
    """Connect, send the auth frame, and read until the server closes; its close code
    (None when the hello came and the socket stayed open)."""
    async with asyncio.timeout(timeout):
        ws = await websockets.connect(url, open_timeout=10)
        try:
            if token is not None:
                await ws.send(json.dumps({"type": "auth", "token": token}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "connected":
                    return None
        except websockets.ConnectionClosed:
            return ws.close_code
        finally:
            await ws.close()


async def rest(base: str, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        headers = {"Authorization": f"Bearer {token}"}
        return await http.request(method, path, headers=headers, **kwargs)
