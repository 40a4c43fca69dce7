"""Migrations: an empty (even missing) database goes to head and back to base cleanly."""

import asyncio

import asyncpg
import pytest
from switchboard_session.migrate import downgrade, prestart
from switchboard_stack import run_token, with_database

from tests.session.conftest import fetch

pytestmark = [pytest.mark.db]
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"


async def test_upgrade_and_downgrade(empty_database_url: str) -> None:
    database_url = empty_database_url
    await prestart(database_url)
    names = [r["tablename"] for r in await fetch(database_url, TABLES)]
    assert names == [
        "alembic_version",
        "audit_log",
        "messages",
        "outbox",
        "rate_limits",
        "runs",
        "sessions",
        "stream_offsets",
        "tool_approvals",
    ]
    await prestart(database_url)  # running it again is a no-op
    await asyncio.to_thread(downgrade, database_url, "base")
    assert [r["tablename"] for r in await fetch(database_url, TABLES)] == ["alembic_version"]
    await prestart(database_url)
    assert len(await fetch(database_url, TABLES)) == 9


async def test_prestart_creates_a_missing_database(postgres_admin_url: str) -> None:
    name = f"sb_missing_{run_token()}"
    url = with_database(postgres_admin_url, name)
    try:
        await prestart(url)
        assert len(await fetch(url, TABLES)) == 9
    finally:
        admin = await asyncpg.connect(postgres_admin_url.replace("+asyncpg", ""))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
