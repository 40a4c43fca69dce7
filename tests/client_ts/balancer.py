"""A TCP load balancer in front of gateway replicas: clients know one URL; each new
connection goes to the current upstream, which a test switches after killing a gateway."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.procs import free_port


class Balancer:
    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._pipes: set[asyncio.Task[None]] = set()
        self.connections: dict[int, int] = {}
        """Connections made to each upstream port."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections[self.upstream] = self.connections.get(self.upstream, 0) + 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator["Balancer"]:
        server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        try:
            yield self
        finally:
            server.close()
            for task in list(self._pipes):
                task.cancel()
            await asyncio.gather(*self._pipes, return_exceptions=True)
            await server.wait_closed()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then close the other (a dead gateway drops its clients)."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()
