"""Alembic environment: async engine (asyncpg), one advisory lock so replicas migrate in turn."""

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from switchboard_session.settings import SessionSettings, to_asyncpg_url
from switchboard_session.tables import Base

MIGRATION_LOCK = 727_001


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    return to_asyncpg_url(url or SessionSettings().database_url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.run_migrations()


async def _online() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
