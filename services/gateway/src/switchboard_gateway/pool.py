"""A small pool of AMQP connections handing out one channel per device connection.

A channel per device keeps its prefetch, its exclusive consumer and its unacked deliveries
apart (closing it returns them to the queue) and isolates a refused consume, which closes the
channel. RabbitMQ allows ~2047 channels per connection, so devices spread over a few
connections; a new connection opens only when the others are full.

Channel numbers are handed out round-robin: aiormq would reuse the number of a channel the
broker just closed (a refused consume, a passive declare of a missing queue) before the
close handshake finished, and the broker kills the whole connection for that
("second 'channel.open' seen").
"""

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

log = logging.getLogger(__name__)

MAX_CHANNEL = 2047


class ChannelPool:
    def __init__(
        self, amqp_url: str, per_connection: int, name: str = "switchboard-gateway"
    ) -> None:
        self._url = amqp_url
        self._per_connection = per_connection
        self._name = name
        self._connections: list[AbstractConnection] = []
        self._load: dict[int, int] = {}
        self._used: dict[int, set[int]] = {}
        self._next: dict[int, int] = {}
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
        number = self._number(key)
        try:
            channel = await connection.channel(channel_number=number, publisher_confirms=False)
            if prefetch:
                await channel.set_qos(prefetch_count=prefetch)
        except BaseException:
            self._release(key, number)
            raise
        channel.close_callbacks.add(lambda *_: self._release(key, number))
        return channel

    async def queue_exists(self, name: str) -> bool:
        """Whether a queue exists (a passive declare on a throwaway channel)."""
        channel = await self.channel(0)
        try:
            await channel.declare_queue(name, passive=True)
            return True
        except aio_pika.exceptions.ChannelClosed:
            return False
        finally:
            if not channel.is_closed:
                await channel.close()

    def _number(self, key: int) -> int:
        used = self._used[key]
        number = self._next[key]
        while number in used:
            number = number % MAX_CHANNEL + 1
        used.add(number)
        self._next[key] = number % MAX_CHANNEL + 1
        self._load[key] += 1
        return number

    def _release(self, key: int, number: int) -> None:
        if number in self._used.get(key, ()):
            self._used[key].discard(number)
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
        self._used[id(connection)] = set()
        self._next[id(connection)] = 1
        log.info("AMQP connection %d opened for device channels", index)
        return connection
