"""uvicorn's sans-I/O WebSocket protocol, minus what an open socket no longer needs, and with
the edge's limits on the upgrade request.

Per socket, uvicorn keeps an `asyncio.Queue` (four deques and an event) for what the app
receives, an `asyncio.Event` (a deque) for whether the transport takes writes and, for the
socket's whole life, the upgrade request and response with their headers; websockets' parser (a
generator) keeps the request too, as a local of the frame that parsed it. One reader needs a
lean queue (`Inbox` below), the flag needs no deque until a send waits (`Writable`), and the
handshake's request and response are dead once the socket is accepted (the parser is restarted
at the first frame, `_forget_request`): about 9 KB per idle device. Used for WS_IMPL's default.

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
from collections.abc import Generator
from typing import Any, Generic, TypeVar

from switchboard_edge.settings import EdgeSettings
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets import http11
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

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


class Writable:
    """What uvicorn's protocol uses of `asyncio.Event` for its `writable` flag (set, clear,
    is_set, wait), with nothing allocated until a send waits on a paused transport."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


def _forget_request(conn: ServerProtocol) -> bool:
    """Restart websockets' parser on frames once the handshake is done, when it waits at a
    frame's start with nothing buffered: its generator holds the upgrade request (and its
    headers) as a local for the socket's life otherwise. The frame parser keeps no state
    between frames, so the fresh one reads the next frame as the old one would. Anything else
    (data buffered, a frame half read, another websockets' parser) is left as it is."""
    parser = conn.parser
    inner = getattr(parser, "gi_yieldfrom", None)  # ServerProtocol.parse -> Protocol.parse
    waiting = getattr(inner, "gi_yieldfrom", None)  # -> StreamReader.at_eof
    if (
        getattr(parser, "__qualname__", "") != "ServerProtocol.parse"
        or getattr(inner, "__qualname__", "") != "Protocol.parse"
        or getattr(waiting, "__qualname__", "") != "StreamReader.at_eof"
        or conn.reader.buffer
        or conn.reader.eof
    ):
        return False
    fresh: Generator[None] = Protocol.parse(conn)
    next(fresh)  # runs to the same wait: nothing buffered
    conn.parser = fresh
    parser.close()
    return True


class LeanSansIOProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
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
            _forget_request(self.conn)
