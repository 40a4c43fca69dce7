"""The ASGI app uvicorn serves: device sockets skip FastAPI's middleware and routing.

A WebSocket lives for hours, and every middleware and router layer FastAPI wraps around it
keeps a coroutine frame, an exit stack and a scope copy alive that long (about 10 KB per idle
device). `/ai/ws/{session_id}` goes straight to the endpoint; everything else (HTTP, lifespan,
other paths) goes to the FastAPI app, which also routes device sockets the same way.
"""

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from .endpoint import run_socket
from .hub import Hub

SOCKET_PREFIX = "/ai/ws/"


class SocketFastPath:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        hub: Hub = app.state.hub
        self.live, self.parts = hub.live, hub.parts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            session_id = _session_of(scope["path"])
            if session_id is not None:
                await run_socket(WebSocket(scope, receive, send), self.live, self.parts, session_id)
                return
        await self.app(scope, receive, send)


def _session_of(path: str) -> str | None:
    """The `{session_id}` of `/ai/ws/{session_id}` (one non-empty segment), else None."""
    if not path.startswith(SOCKET_PREFIX):
        return None
    rest = path[len(SOCKET_PREFIX) :]
    return rest if rest and "/" not in rest else None
