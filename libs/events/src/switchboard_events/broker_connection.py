"""Opening the broker connection: robust (reconnects by itself), closed on exit."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from .settings import BrokerSettings


@asynccontextmanager
async def broker_connection(
    settings: BrokerSettings, name: str = "switchboard"
) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(
        settings.amqp_url, client_properties={"connection_name": name}
    )
    try:
        yield connection
    finally:
        await connection.close()
