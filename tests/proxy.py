"""A TCP proxy a test puts between one process and RabbitMQ, to blip that process's broker link
and nobody else's: `pause()` holds every byte in both directions (the TCP connections stay up,
as on a stalled network), `resume()` lets them flow again, `cut()` drops every connection (the
bytes held are lost) and lets new ones flow: the process reconnects through the proxy.
`down()` makes it a broker that is not there (every connection is reset as it arrives) until
`up()`. Its port is its own from `start()` on: no other test can take it meanwhile."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.serving = True
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @classmethod
    def for_url(cls, amqp_url: str) -> "Proxy":
        parts = urlsplit(amqp_url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5672)

    async def start(self) -> "Proxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url_for(self, amqp_url: str) -> str:
        """`amqp_url` with its host and port replaced by this proxy's."""
        parts = urlsplit(amqp_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def down(self) -> None:
        """Reset every connection, now and as they arrive (a broker that is away)."""
        self.serving = False
        self.cut()

    def up(self) -> None:
        self.serving = True

    def pause(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def cut(self) -> None:
        """Drop every connection and what it held; new ones flow."""
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()
        self.resume()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        ends = [writer]
        try:
            if not self.serving:
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            ends.append(up_writer)
            self._links.update(ends)
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            for end in ends:
                self._links.discard(end)
                end.transport.abort()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self.flowing.wait()
            if writer.transport.is_closing():
                return
            writer.write(data)
            await writer.drain()
        writer.transport.abort()


@contextlib.asynccontextmanager
async def proxy_to(amqp_url: str) -> AsyncIterator[Proxy]:
    proxy = await Proxy.for_url(amqp_url).start()
    try:
        yield proxy
    finally:
        await proxy.close()
