"""Prestart: wait for Postgres, create the database when missing, run Alembic migrations."""

import asyncio
import logging
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from switchboard_events.retry import RetryCallState, retry_for

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    """Alembic's config pointing at the migrations shipped inside this package."""
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _plain_dsn(database_url: str, database: str | None = None) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


UNREACHABLE = (OSError, asyncpg.PostgresError, TimeoutError)


def _log_wait(state: RetryCallState) -> None:
    log.info("waiting for Postgres: %r", state.outcome and state.outcome.exception())


async def ensure_database(database_url: str, timeout_s: float = 30.0) -> None:
    """Wait until the server answers, then create the database if it does not exist."""
    name = make_url(database_url).database or "postgres"
    admin_dsn = _plain_dsn(database_url, "postgres")
    waiting = retry_for(timeout_s, UNREACHABLE, 0.5, before_sleep=_log_wait)
    try:
        admin: asyncpg.Connection = await waiting(asyncpg.connect, admin_dsn, timeout=5)
    except UNREACHABLE as exc:
        raise RuntimeError(f"Postgres not reachable: {exc!r}") from exc
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
                log.info("created database %s", name)
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await admin.close()


def upgrade(database_url: str, revision: str = "head") -> None:
    """`alembic upgrade` (blocking: call from a thread when a loop is running)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def prestart(database_url: str, timeout_s: float = 30.0) -> None:
    """Everything the service needs before it serves: database present and at head."""
    await ensure_database(database_url, timeout_s)
    await asyncio.to_thread(upgrade, database_url)
