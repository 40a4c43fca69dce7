"""Two service instances on one database share rate limits and the one-active-run rule."""

import asyncio

import pytest

from tests.session.conftest import auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE = auth("alice")


async def test_rate_limit_holds_across_instances(make_app, database_url) -> None:
    first = await make_app(RATE_LIMIT_SESSIONS_PER_MIN=3)
    second = await make_app(RATE_LIMIT_SESSIONS_PER_MIN=3)
    codes = [
        (await app.post("/ai/sessions", json={}, headers=ALICE)).status_code
        for app in (first, second, first, second)
    ]
    assert codes == [201, 201, 201, 429]
    refused = await first.post("/ai/sessions", json={}, headers=ALICE)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert (await second.post("/ai/sessions", json={}, headers=auth("bob"))).status_code == 201
    audit = await fetch(
        database_url, "SELECT count(*) AS n FROM audit_log WHERE action = 'rate_limited'"
    )
    assert audit[0]["n"] == 2
    assert len((await first.get("/ai/sessions", headers=ALICE)).json()["items"]) == 3


async def test_message_rate_limit(make_app) -> None:
    client = await make_app(RATE_LIMIT_MESSAGES_PER_MIN=1)
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    url = f"/ai/sessions/{sid}/message"
    assert (await client.post(url, json={"content": "a"}, headers=ALICE)).status_code == 202
    body = {"content": "b", "on_busy": "enqueue"}
    limited = await client.post(url, json=body, headers=ALICE)
    assert limited.status_code == 429 and "Retry-After" in limited.headers


async def test_one_active_run_across_instances(make_app, database_url) -> None:
    first = await make_app()
    second = await make_app()
    sid = (await first.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    url = f"/ai/sessions/{sid}/message"
    responses = await asyncio.gather(
        *(app.post(url, json={"content": "go"}, headers=ALICE) for app in (first, second) * 2)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"run_active"}
    rows = await fetch(database_url, "SELECT count(*) AS n FROM runs")
    assert rows[0]["n"] == 1
