"""uvicorn's sans-I/O WebSocket protocol, minus what an open socket no longer needs, and with
the edge's limits on the upgrade request.

Per socket, uvicorn keeps an `asyncio.Queue` (four deques and an event) for what the app
receives and, for the socket's whole life, the upgrade request and response with their
headers. One reader needs a lean queue (`Inbox` below), and the handshake's request and response
are dead once the socket is accepted: about 6 KB per idle device. Used for WS_IMPL's default.

The upgrade request is read twice: by the HTTP protocol (http_guard: 431 past MAX_HEADER_BYTES,
408 past HEADER_TIMEOUT_S), which hands it on, then by websockets' handshake parser, with
limits of its own (8 KiB a line, 128 header lines). uvicorn writes nothing when that parser
refuses a request, so a refused upgrade got no answer and its socket stayed open for good:
here it is answered (the parser's 4xx, or 400) and closed, and `match_edge_limits` gives the
parser the HTTP protocol's limits, so a head REST takes (a long token) is taken here too.

uvicorn hands its `uvicorn.error` logger to the websockets protocol, which then logs
"connection open" and "connection closed" at INFO for every socket, and logs its own
`"WebSocket /ai/ws/..." [accepted]` line at INFO on that logger too: here both log to
`PROTOCOL_LOGGER`, which `main` keeps at WARNING (together a few % of a reconnect storm's CPU;
errors and exceptions still reach it; `gateway_joins_total` and `gateway_closes_total` count
sockets).
"""

import asyncio
import logging
from collections import deque
from typing import Any, Generic, TypeVar

from switchboard_edge.settings import EdgeSettings
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets import http11

PROTOCOL_LOGGER = "switchboard_gateway.ws_protocol"
_NOT_AN_UPGRADE = b"not a valid WebSocket upgrade request"
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_NOT_AN_UPGRADE), _NOT_AN_UPGRADE)
)


def match_edge_limits(edge: EdgeSettings, ws_impl: str) -> None:
    """websockets' handshake limits (module constants it reads from the environment at import)
    at least the HTTP protocol's: a line as long as a whole head, and as many header lines as
    fit in one (each at least `x:` and CRLF). WS_IMPL=websockets parses with its legacy module."""
    modules: list[Any] = [http11]
    if ws_impl == "websockets":
        from websockets.legacy import http as legacy_http  # imported by that impl anyway

        modules.append(legacy_http)
    for module in modules:
        module.MAX_LINE_LENGTH = max(module.MAX_LINE_LENGTH, edge.max_header_bytes + 8)
        module.MAX_NUM_HEADERS = max(module.MAX_NUM_HEADERS, edge.max_header_bytes // 4 + 1)


T = TypeVar("T")


class Inbox(Generic[T]):
    """A lean single-reader queue (asyncio.Queue holds four deques per instance), with
    nothing allocated until the first item."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def clear(self) -> None:
        self._items = None


class LeanSansIOProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.logger = self.conn.logger = logging.getLogger(PROTOCOL_LOGGER)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            self._refuse_handshake()

    def _refuse_handshake(self) -> None:
        """The handshake parser refused the request: websockets queued its 4xx (a line too
        long, too many headers) or nothing (a request it cannot read, e.g. with a body), and
        uvicorn sends neither. Answer and close."""
        answer = b"".join(self.conn.data_to_send())
        self.handshake_complete = self.close_sent = True
        self.transport.write(answer if answer.startswith(b"HTTP/") else _BAD_REQUEST)
        self.transport.close()

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and "response" in self.__dict__:
            del self.__dict__["response"], self.__dict__["request"]
