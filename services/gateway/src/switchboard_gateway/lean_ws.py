"""uvicorn's sans-I/O WebSocket protocol, minus what an open socket no longer needs.

Per socket, uvicorn keeps an `asyncio.Queue` (four deques and an event) for what the app
receives and, for the socket's whole life, the upgrade request and response with their
headers. One reader needs a lean queue (inbox.Inbox), and the handshake's request and response
are dead once the socket is accepted: about 6 KB per idle device. Used for WS_IMPL's default.

uvicorn hands its `uvicorn.error` logger to the websockets protocol, which then logs
"connection open" and "connection closed" at INFO for every socket, after uvicorn's own access
line for it: here the protocol logs to `PROTOCOL_LOGGER`, which `main` keeps at WARNING (a few %
of a reconnect storm's CPU).
"""

import logging
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .inbox import Inbox

PROTOCOL_LOGGER = "switchboard_gateway.ws_protocol"


class LeanSansIOProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.conn.logger = logging.getLogger(PROTOCOL_LOGGER)

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and "response" in self.__dict__:
            del self.__dict__["response"], self.__dict__["request"]
