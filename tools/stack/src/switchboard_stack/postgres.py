"""Databases for a stack: check and create the one `make run` uses, or a throwaway one per test
run (created, then dropped with `WITH (FORCE)`)."""

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from .urls import asyncpg_dsn, database_name, redact, with_database

START_BOTH = "docker compose up -d rabbitmq postgres"


def run_token() -> str:
    """A short id unique to one run (names its database and broker prefix)."""
    return uuid.uuid4().hex[:10]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _admin(url: str, statement: str, timeout: float = 10.0) -> None:
    """Run `statement` on the server of `url`, connected to its `postgres` database."""
    conn = await asyncpg.connect(asyncpg_dsn(url, "postgres"), timeout=timeout)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def throwaway_database(
    admin_url: str, name: str, template: str | None = None
) -> AsyncIterator[str]:
    """Database `name` created on the server of `admin_url` (its URL), dropped on exit: empty,
    or a copy of database `template` (nobody may be connected to it meanwhile)."""
    await _admin(admin_url, f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
    copy = f" TEMPLATE {_quoted(template)}" if template else ""
    await _admin(admin_url, f"CREATE DATABASE {_quoted(name)}{copy}")
    try:
        yield with_database(admin_url, name)
    finally:
        await _admin(admin_url, f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")


def fresh_database(
    admin_url: str, prefix: str = "sb_test", template: str | None = None
) -> contextlib.AbstractAsyncContextManager[str]:
    """A new database named `<prefix>_<run token>` (its URL), dropped on exit: empty, or a
    copy of database `template`."""
    return throwaway_database(admin_url, f"{prefix}_{run_token()}", template)


def postgres_advice(url: str, exc: BaseException) -> str:
    return (
        f"Postgres is not reachable at {redact(url)} ({exc!r}).\n"
        f"Start it with one of:\n  {START_BOTH}\n"
        "  pg_ctlcluster 15 main start      (Debian/Ubuntu; `pg_lsclusters` lists yours)\n"
        "or point DATABASE_URL at a running server."
    )


async def ensure_database(url: str, timeout: float = 5.0) -> str | None:
    """Create the database of `url` if missing; None when it exists, else what to do."""
    try:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=timeout)
    except asyncpg.InvalidCatalogNameError:
        return await _create(url, timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes advice
        return postgres_advice(url, exc)
    await connection.close()
    return None


async def _create(url: str, timeout: float) -> str | None:
    name = database_name(url)
    try:
        await _admin(url, f"CREATE DATABASE {_quoted(name)}", timeout)
        print(f"devstack: created database {name}", flush=True)
    except asyncpg.DuplicateDatabaseError:
        pass  # created concurrently: fine
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        return postgres_advice(url, exc)
    except Exception as exc:  # noqa: BLE001
        return f"Could not create database {name!r}: {exc!r}"
    return None
