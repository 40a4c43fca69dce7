"""AMQP frames written in one loop turn leave in one send.

aiormq writes every frame (a publish, an ack, a declare) with its own `transport.write`, and
uvloop sends each at once: one syscall per frame, and one read on the broker's side. A gateway
acking several deliveries, or answering a burst of RPCs, and a run worker publishing several
shards' batches, queue several frames within one turn of the event loop. `CorkedWriter` holds
what is written during a turn and sends it with one write at the end of it (`loop.call_soon`):
no timer, no added wait beyond the current turn, same byte order, and anything that waits on the
socket (`drain`, `close`, `write_eof`) sends what is held first.

`CorkedTransportFactory` is aiormq's transport hook (`transport_factory`), set by
`broker_connection` on every connection the services open.
"""

import asyncio
import logging
from typing import Any

from aiormq.connection import SSLContextProvider, TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

log = logging.getLogger(__name__)

STREAM_LIMIT = 2**16
"""The StreamReader's buffer limit, as `asyncio.open_connection` sets it."""


class CorkedWriter(asyncio.StreamWriter):
    """A StreamWriter that sends one turn's writes together."""

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        protocol: asyncio.StreamReaderProtocol,
        reader: asyncio.StreamReader,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(transport, protocol, reader, loop)
        self._turn_loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._turn_loop.call_soon(self.flush)
        self._held.append(data if isinstance(data, bytes) else bytes(data))

    def flush(self) -> None:
        """Send what this turn wrote (no-op when nothing is held). On a transport already
        closing it is dropped, as the transport would: the connection's loss reaches aiormq's
        reader, not the loop's exception log."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        if self.transport.is_closing():
            return
        try:
            super().write(data)
        except (OSError, RuntimeError) as exc:  # uvloop: a handle closed under it
            log.debug("broker connection write dropped: %r", exc)

    async def drain(self) -> None:
        self.flush()
        await super().drain()

    def write_eof(self) -> None:
        self.flush()
        super().write_eof()

    def close(self) -> None:
        self.flush()
        super().close()


class CorkedTransportFactory(TransportFactory):
    """aiormq's TCP/TLS transport, with a CorkedWriter."""

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider: SSLContextProvider | None = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider else None
        if url.host is None or url.port is None:
            raise AMQPConnectionError(f"no host and port in {url.with_password(None)}")
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=kwargs.pop("limit", STREAM_LIMIT), loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, url.host, url.port, ssl=ssl, **kwargs
            )
        except OSError as exc:
            raise AMQPConnectionError(*exc.args) from exc
        return reader, CorkedWriter(transport, protocol, reader, loop)
