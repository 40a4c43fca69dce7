"""Run leases in the session service (leases.py): a lapsed run is failed once even when two
replicas reap at the same moment; a renewal is refused for a run another worker holds or that
ended; folded events renew a lease and `run_end` releases it."""

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from switchboard_events.routing import LOST_RUN_SEQ
from switchboard_session import leases
from switchboard_session.app_context import AppContext

from tests.session.conftest import auth

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.timeout(60)]

# RUN_LEASE_S=60 here: the background reapers start only after RUN_LEASE_S, so during these
# tests the explicit `reap_once` calls are the only parties (the lease is lapsed by hand).
QUIET = {"RUN_LEASE_S": 60}


def ctx_of(client: httpx.AsyncClient) -> AppContext:
    return client._transport.app.state.ctx  # type: ignore[attr-defined,no-any-return]


async def dispatched_run(client: httpx.AsyncClient) -> tuple[str, str]:
    body = {"agent_type": "personal", "mode": "text", "client_id": "web"}
    created = await client.post("/ai/sessions", json=body, headers=auth("alice"))
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    sent = await client.post(
        f"/ai/sessions/{sid}/message", json={"content": "hi"}, headers=auth("alice")
    )
    assert sent.status_code == 202, sent.text
    return sid, sent.json()["run_id"]


async def sql(database_url: str, query: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_two_replicas_reaping_at_once_fail_a_lapsed_run_once(
    make_app, stream_tap, database_url
) -> None:
    one, two = await make_app(**QUIET), await make_app(**QUIET)
    sid, run_id = await dispatched_run(one)
    events = await stream_tap(sid, "error", "run_end")
    lapse = "UPDATE runs SET lease_owner = 'w-1', lease_expires_at = now() - interval '1 second'"
    await sql(database_url, lapse + " WHERE id = $1", run_id)

    failed = await asyncio.gather(leases.reap_once(ctx_of(one)), leases.reap_once(ctx_of(two)))

    assert sorted(failed) == [0, 1]
    error, end = await events.next_event(), await events.next_event()
    assert (error.type, error.data.code, error.seq) == ("error", "worker_lost", LOST_RUN_SEQ + 1)
    assert (end.type, end.data.status, end.seq) == ("run_end", "failed", LOST_RUN_SEQ + 2)
    [row] = await sql(database_url, "SELECT status, error FROM runs WHERE id = $1", run_id)
    assert row["status"] == "failed" and row["error"].startswith("worker_lost")
    assert await leases.reap_once(ctx_of(one)) == 0  # nothing left to fail
    session = await one.get(f"/ai/sessions/{sid}", headers=auth("alice"))
    assert session.json().get("active_run") is None


async def test_a_renewal_is_refused_for_another_workers_or_an_ended_run(
    make_app, database_url
) -> None:
    client = await make_app(**QUIET)
    ctx = ctx_of(client)
    _, run_id = await dispatched_run(client)
    async with ctx.database.begin() as db:
        assert await leases.renew(db, [run_id, "unknown"], "w-1", 10) == {run_id}
    async with ctx.database.begin() as db:
        assert await leases.renew(db, [run_id], "w-2", 10) == set()  # a second copy's worker
        assert await leases.renew(db, [run_id], "w-1", 10) == {run_id}
    await sql(database_url, "UPDATE runs SET status = 'completed' WHERE id = $1", run_id)
    async with ctx.database.begin() as db:
        assert await leases.renew(db, [run_id], "w-1", 10) == set()


async def test_a_run_no_worker_took_ends_no_worker_and_the_next_waiting_run_starts(
    make_app, tap, stream_tap, names, database_url
) -> None:
    client = await make_app(**QUIET)
    requests = await tap(names.commands_exchange, "run")  # before any: the relay may be late
    sid, run_id = await dispatched_run(client)
    queued = await client.post(
        f"/ai/sessions/{sid}/message",
        json={"content": "next", "on_busy": "enqueue"},
        headers=auth("alice"),
    )
    assert queued.status_code == 202, queued.text
    events = await stream_tap(sid, "error")
    assert (await requests.next_json())["run_id"] == run_id
    stale = "UPDATE runs SET dispatched_at = now() - interval '1 hour' WHERE id = $1"
    await sql(database_url, stale, run_id)

    assert await leases.reap_once(ctx_of(client)) == 1

    error = await events.next_event()
    assert (error.run_id, error.data.code) == (run_id, "no_worker")
    request = await requests.next_json()
    assert request["run_id"] == queued.json()["run_id"] and request["start_by"]
