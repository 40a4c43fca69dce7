"""Fault 4: Postgres stopped mid-run: REST answers 503, events keep flowing, the service
recovers by itself, and every persisted event is stored exactly once."""

import asyncio
import time

import asyncpg
import httpx
import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import asyncpg_dsn

from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import bearer, check_run, create_session, send_message, token
from tests.reliability.results import Figures
from tests.reliability.servers import need, postgres_stopped, wait_for_quiet_machine
from tests.stack import running_stack, stack_installed

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.db, pytest.mark.timeout(1200)]

TOKENS = 2_000


async def _status(base: str, tok: str, path: str) -> int | str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        try:
            return (await http.get(path, headers=bearer(tok))).status_code
        except httpx.HTTPError as exc:
            return repr(exc)


async def _until_status(base: str, tok: str, path: str, code: int, timeout: float = 60) -> None:
    seen: list[int | str] = []
    try:
        async with asyncio.timeout(timeout):
            while (got := await _status(base, tok, path)) != code:
                seen.append(got)
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"{path} never answered {code} in {timeout} s: saw {sorted(set(seen))}")


async def _stored(database_url: str, run_id: str) -> tuple[list[str], str | None, int]:
    """Response event ids stored for the run, its status, and event ids stored more than once."""
    dsn = asyncpg_dsn(database_url)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id FROM messages WHERE run_id = $1", run_id)
        status = await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT event_id FROM messages WHERE event_id IS NOT NULL"
            " GROUP BY event_id HAVING count(*) > 1) AS d"
        )
    finally:
        await conn.close()
    return [r["event_id"] for r in rows], status, int(twice)


async def test_postgres_restart(
    database_url: str, broker_settings: BrokerSettings, figures: Recorder
) -> None:
    need("pg_ctlcluster")
    if not stack_installed():
        pytest.skip("services not installed")
    await wait_for_quiet_machine()
    async with running_stack(database_url, broker_settings) as stack:
        tok = token()
        sid = (await create_session(stack.url, tok))["id"]
        path = f"/ai/sessions/{sid}"
        device = Device(sid, "desk", tok)
        await device.connect(stack.url)
        run_id = (await send_message(stack.url, tok, sid, f"/tokens {TOKENS} rate=400"))["run_id"]
        await device.pump(lambda d: len(d.run_events(run_id)) >= 100)

        async with postgres_stopped():
            stopped_at = time.monotonic()
            await _until_status(stack.url, tok, path, 503, 30)
            assert await _status(stack.url, tok, "/ai/health") == 503
            await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", run_id))
            assert await _status(stack.url, tok, path) == 503
            down_s = round(time.monotonic() - stopped_at, 3)
            started_at = time.monotonic()
        await _until_status(stack.url, tok, path, 200)
        recovered = round(time.monotonic() - started_at, 3)

        counts = check_run(device.run_events(run_id), TOKENS)
        response = next(e for e in device.run_events(run_id) if e["type"] == "response")
        async with asyncio.timeout(30):
            while (stored := await _stored(database_url, run_id))[1] != "completed":
                await asyncio.sleep(0.2)
        assert stored[0] == [response["id"]] and stored[2] == 0, stored
        assert stack.processes["session"].proc.poll() is None  # type: ignore[union-attr]
        again = (await send_message(stack.url, tok, sid, "/tokens 5"))["run_id"]
        await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", again), 30)
        await device.close()

    figures(
        "4-postgres-restart",
        Figures(
            scenario="Postgres stopped and started mid-run",
            done=f"/tokens {TOKENS} rate=400; Postgres stopped after 100 events for {down_s} s "
            "(REST and /ai/health answered 503), then started; no service restarted",
            **counts,
            redelivered=device.redelivered,
            recovery_s=recovered,
            notes="the run's response stored exactly once (by event id), run status completed "
            "after recovery; a new run on the session completed",
        ),
    )
