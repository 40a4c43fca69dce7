"""A small pool of AMQP connections handing out one channel per device connection.

A channel per device keeps its prefetch, its exclusive consumer and its unacked deliveries
apart (closing it returns them to the queue) and isolates a refused consume, which closes the
channel. RabbitMQ allows ~2047 channels per connection, so devices spread over a few
connections; a new connection opens only when the others are full.
"""

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

log = logging.getLogger(__name__)


class ChannelPool:
    def __init__(
        self, amqp_url: str, per_connection: int, name: str = "switchboard-gateway"
    ) -> None:
        self._url = amqp_url
        self._per_connection = per_connection
        self._name = name
        self._connections: list[AbstractConnection] = []
        self._load: dict[int, int] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self._add_connection()

    async def close(self) -> None:
        for connection in self._connections:
            if not connection.is_closed:
                await connection.close()
        self._connections.clear()

    @property
    def healthy(self) -> bool:
        return any(not c.is_closed for c in self._connections)

    async def any_connection(self) -> AbstractConnection:
        connection, _ = await self._pick()
        return connection

    async def channel(self, prefetch: int) -> AbstractChannel:
        """A new channel with `prefetch` set; it counts against its connection until closed."""
        connection, key = await self._pick()
        self._load[key] += 1
        try:
            channel = await connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=prefetch)
        except BaseException:
            self._load[key] -= 1
            raise
        channel.close_callbacks.add(lambda *_: self._release(key))
        return channel

    def _release(self, key: int) -> None:
        if key in self._load:
            self._load[key] -= 1

    async def _pick(self) -> tuple[AbstractConnection, int]:
        async with self._lock:
            self._connections = [c for c in self._connections if not c.is_closed]
            for connection in self._connections:
                if self._load.get(id(connection), 0) < self._per_connection:
                    return connection, id(connection)
            connection = await self._add_connection()
            return connection, id(connection)

    async def _add_connection(self) -> AbstractConnection:
        index = len(self._connections)
        connection = await aio_pika.connect(
            self._url, client_properties={"connection_name": f"{self._name}-{index}"}
        )
        self._connections.append(connection)
        self._load[id(connection)] = 0
        log.info("AMQP connection %d opened for device channels", index)
        return connection
