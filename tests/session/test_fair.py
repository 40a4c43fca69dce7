"""Fair sharing in the session service: active runs per user, audio bytes per minute.

No worker runs here, so every started run stays active until the test publishes its
`run_end`: exactly the state of a user holding runs open (e.g. `/sleep`).
"""

import asyncio

import asyncpg
import httpx
import pytest
from switchboard_events import make_event
from switchboard_protocol.wav import write_wav
from switchboard_stack import asyncpg_dsn

from tests.conftest import wait_until
from tests.session.conftest import auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.timeout(60)]
ALICE, BOB = auth("alice"), auth("bob")
WAV = write_wav(bytes(1000), 8000)


async def new_session(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> str:
    response = await client.post("/ai/sessions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def say(
    client: httpx.AsyncClient, headers: dict[str, str], sid: str, **body: object
) -> httpx.Response:
    body = {"content": "/sleep 40", **body}
    return await client.post(f"/ai/sessions/{sid}/message", json=body, headers=headers)


async def test_a_user_at_max_active_runs_is_refused_429_and_others_are_not(
    client, publish, database_url
) -> None:
    sids = [await new_session(client, ALICE) for _ in range(4)]
    accepted = [await say(client, ALICE, sid) for sid in sids[:3]]
    assert [r.status_code for r in accepted] == [202, 202, 202]

    refused = await say(client, ALICE, sids[3])
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "too_many_runs" and "MAX_ACTIVE_RUNS_PER_USER" in error["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    stored = await fetch(
        database_url, "SELECT count(*) AS n FROM messages WHERE session_id = $1", sids[3]
    )
    assert stored[0]["n"] == 0  # refused: nothing stored, no run

    queued = await say(client, ALICE, sids[0], on_busy="enqueue")
    assert queued.status_code == 202  # queued behind its session's run: not another active run
    bob = await say(client, BOB, await new_session(client, BOB), content="/tokens 3")
    assert bob.status_code == 202

    ended = make_event(
        "run_end",
        {"status": "completed"},
        session_id=sids[1],
        run_id=accepted[1].json()["run_id"],
        seq=2,
    )
    await publish(ended)

    async def slot_free() -> bool:
        got = await client.get(f"/ai/sessions/{sids[1]}", headers=ALICE)
        return got.json()["active_run"] is None

    await wait_until(slot_free, timeout=10)
    assert (await say(client, ALICE, sids[3])).status_code == 202


async def test_active_runs_per_user_hold_across_replicas(make_app) -> None:
    first, second = await make_app(), await make_app()
    sids = [await new_session(first, ALICE) for _ in range(8)]
    apps = [first, second] * 4
    responses = await asyncio.gather(
        *(say(app, ALICE, sid) for app, sid in zip(apps, sids, strict=True))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 3 + [429] * 5, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {
        "too_many_runs"
    }


async def test_a_run_start_takes_its_users_run_lock_last(client, database_url) -> None:
    """The user's run lock serializes that user's run starts until commit: a message takes it
    only once everything else is written (the count and the commit are all it is held for),
    so messages of one user to several sessions do not start their runs one at a time."""
    sid = await new_session(client, ALICE)
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    # outside holder's transaction, where each statement reads pg_stat_activity afresh
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    sent: asyncio.Task[httpx.Response] | None = None
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('runs:' || $1, 0))", "alice"
            )
            sent = asyncio.create_task(say(client, ALICE, sid, content="/tokens 1"))

            # the message's transaction, waiting for the lock (not another test's database)
            waiter = """SELECT w.pid FROM pg_locks w JOIN pg_stat_activity a ON a.pid = w.pid
                        WHERE w.locktype = 'advisory' AND NOT w.granted
                        AND a.datname = current_database()
                        AND a.query LIKE 'SELECT pg_advisory_xact_lock%'"""

            async def blocked() -> bool:
                return bool(await watcher.fetch(waiter))

            await wait_until(blocked, timeout=10)
            rows = await watcher.fetch(  # what the waiting transaction has written already
                f"""SELECT c.relname FROM pg_locks h JOIN pg_class c ON c.oid = h.relation
                    WHERE h.granted AND h.mode = 'RowExclusiveLock' AND h.pid IN ({waiter})"""
            )
            written = {r["relname"] for r in rows}
            assert {"messages", "runs", "outbox"} <= written, written
            assert not sent.done()
        response = await asyncio.wait_for(sent, 10)  # the lock is free: it goes on
    finally:
        if sent is not None and not sent.done():
            sent.cancel()
        await holder.close()
        await watcher.close()
    assert response.status_code == 202, response.text


async def test_audio_bytes_per_minute_per_user(make_app, database_url) -> None:
    # A small budget (2.5 utterances) keeps the uploads small; the shipped one is 20 MiB/min.
    client = await make_app(RATE_LIMIT_AUDIO_BYTES_PER_MIN=int(len(WAV) * 2.5))
    headers = {"Content-Type": "audio/wav"}
    sids = [await new_session(client, ALICE, mode="voice") for _ in range(3)]

    async def post(sid: str, who: dict[str, str]) -> httpx.Response:
        url = f"/ai/sessions/{sid}/audio"
        return await client.post(url, content=WAV, headers={**who, **headers})

    assert [(await post(sid, ALICE)).status_code for sid in sids[:2]] == [202, 202]
    refused = await post(sids[2], ALICE)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "audio_rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    runs = await fetch(
        database_url, "SELECT count(*) AS n FROM runs WHERE session_id = $1", sids[2]
    )
    assert runs[0]["n"] == 0
    bob = await post(await new_session(client, BOB, mode="voice"), BOB)
    assert bob.status_code == 202, bob.text
