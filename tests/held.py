"""Holding a shard's ingest back for real: a second connection locks the shard's row of
`stream_offsets`, which every ingest transaction of that shard updates, so none of them can
commit until the lock goes (the session service's code is untouched)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from switchboard_events import BrokerSettings, names_from
from switchboard_events.routing import shard_of
from switchboard_stack import asyncpg_dsn


def stream_of(broker: BrokerSettings, session_id: str) -> str:
    """The name of `session_id`'s shard stream."""
    return names_from(broker).stream(shard_of(session_id, broker.stream_shards))


@asynccontextmanager
async def ingest_held(database_url: str, stream: str, timeout: float = 20) -> AsyncIterator[None]:
    """Ingest of `stream` commits nothing while the block runs. Waits first for the stream's
    row (ingest writes it with the stream's first transaction)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        query = 'SELECT "offset" FROM stream_offsets WHERE stream = $1'
        async with asyncio.timeout(timeout):
            while await conn.fetchval(query, stream) is None:
                await asyncio.sleep(0.02)
        lock = conn.transaction()
        await lock.start()
        try:
            await conn.execute(query + " FOR UPDATE", stream)
            yield
        finally:
            await lock.rollback()
    finally:
        await conn.close()
