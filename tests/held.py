"""Holding the session service's ingest back for real (its code untouched):

- `ingest_held`: a second connection locks a shard's row of `stream_offsets`, which every ingest
  transaction of that shard updates, so none of them can commit until the lock goes. Such a
  transaction has locked its sessions' rows already: a request that locks a session row (a
  message) waits for it too, so use it for requests that take no such lock (decisions).
- `ingest_unowned`: the test holds the ingest lock (ownership.py's advisory lock) itself, so no
  replica ingests until it lets go; take it before the app starts. A replica then takes over
  within INGEST_RETRY_S (3 s) and reads every shard from its stored offset."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from switchboard_events import BrokerSettings, names_from
from switchboard_events.routing import shard_of
from switchboard_session.ownership import lock_key
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


@asynccontextmanager
async def ingest_unowned(database_url: str, broker_prefix: str) -> AsyncIterator[None]:
    """No replica of the session service ingests (prefix `broker_prefix`) while the block runs."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key(broker_prefix))
        yield
    finally:
        await conn.close()  # the lock goes with its connection
