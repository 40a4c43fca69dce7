"""uvicorn's HTTP protocol with the limits it lacks: a byte cap and a deadline on request heads,
and a cap on open connections (settings in `edge.py`; needs the `server` extra).

httptools keeps appending to a header it has not finished, so a slow or endless head holds
memory and a file descriptor for as long as the peer likes: here the bytes before the end of
a head are counted as they arrive (431 and close past MAX_HEADER_BYTES) and a head must be
complete within HEADER_TIMEOUT_S of its first byte or of the connection opening (408 and close).

A connection closed with a request body still unread (a refusal: 413, 401) lingers: the answer
is sent, the write side shut, and what the client still sends is read and dropped, up to
LINGER_BYTES; then reading stops (the client's writes block) until LINGER_S has passed, and the
connection closes. Closing at once, or as soon as LINGER_BYTES had come (a fast client sends
8 MiB in milliseconds), makes the kernel reset the connection, and a client that was still
sending saw the reset instead of the answer.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import EdgeSettings

_CLOSE = b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
LINGER_S = 2.0
LINGER_BYTES = 8 * 1024 * 1024


class _LingeringTransport:
    """The connection's transport as its HTTP protocol sees it: `close()` lingers."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: "GuardedHttpProtocol") -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self._protocol.lingering is not None or self._transport.is_closing()

    def close(self) -> None:
        real = self._transport
        if self._protocol.lingering is not None:
            return
        if (
            real.is_closing()
            or real.get_protocol() is not self._protocol
            or not real.can_write_eof()
        ):
            real.close()  # upgraded: the WebSocket protocol closes as it likes
            return
        self._protocol.lingering = 0
        real.resume_reading()
        real.write_eof()
        self._protocol.loop.call_later(LINGER_S, real.close)


class GuardedHttpProtocol(HttpToolsProtocol):
    max_head = 64 * 1024
    head_timeout_s = 10.0
    max_connections = 10_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self.lingering: int | None = None
        """Bytes dropped since the connection began to linger; None while it serves."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        if len(self.connections) > self.max_connections:
            self._refuse(b"503 Service Unavailable")
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering is not None:
            self.lingering += len(data)
            if self.lingering > LINGER_BYTES:  # no more reading; the LINGER_S timer closes
                self.transport._transport.pause_reading()  # type: ignore[attr-defined]
            return
        while data:
            if not self._in_head:
                super().data_received(data)
                return
            room = self.max_head - self._head_bytes
            if room <= 0:
                self._refuse(b"431 Request Header Fields Too Large")
                return
            if self._head_timer is None:
                self._arm()
            part, data = data[:room], data[room:]
            self._head_bytes += len(part)
            super().data_received(part)
            if self._done():
                return

    def _done(self) -> bool:
        """Refused, lingering, or upgraded to a WebSocket (which owns the socket now)."""
        return (
            self.lingering is not None
            or self.transport.is_closing()
            or self.transport.get_protocol() is not self
        )

    def handle_websocket_upgrade(self) -> None:
        """The WebSocket protocol gets the plain transport (no lingering, no indirection)."""
        self.transport = self.transport._transport  # type: ignore[attr-defined]
        super().handle_websocket_upgrade()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # the next request's head (keep-alive)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(b"408 Request Timeout")

    def _refuse(self, status: bytes) -> None:
        self._disarm()
        if not self._done():
            self.transport.write(b"HTTP/1.1 " + status + _CLOSE)
            self.transport.close()


def guarded_protocol(edge: EdgeSettings) -> type[GuardedHttpProtocol]:
    """The protocol class with `edge`'s limits (uvicorn builds one instance per connection)."""
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {
            "max_head": edge.max_header_bytes,
            "head_timeout_s": edge.header_timeout_s,
            "max_connections": edge.max_connections,
        },
    )


def server_options(edge: EdgeSettings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that apply `edge`."""
    return {
        "http": guarded_protocol(edge),
        "timeout_keep_alive": edge.keepalive_timeout_s,
        "limit_concurrency": edge.max_connections,
        "backlog": edge.listen_backlog,
        "proxy_headers": bool(edge.proxies),
        "forwarded_allow_ips": edge.proxies or None,
        "h11_max_incomplete_event_size": edge.max_header_bytes,
    }
