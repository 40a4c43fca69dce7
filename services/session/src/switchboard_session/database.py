"""The async engine and session factory (created in the lifespan, disposed in `finally`)."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .settings import SessionSettings


def make_engine(settings: SessionSettings) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args={"timeout": 5},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def database_ok(engine: AsyncEngine) -> bool:
    """Whether the database answers (and is migrated: the sessions table exists)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1 FROM sessions LIMIT 0"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "down" for the health check
        return False
