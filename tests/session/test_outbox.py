"""The outbox: what a transaction announces goes out after its commit, once, in order per
session; a crash between commit and publish delays it, a failed commit drops it."""

import functools
import json
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from switchboard_events import BrokerSettings, Names, broker_connection, make_event
from switchboard_events.codec import BATCH_CONTENT_TYPE, encode
from switchboard_events.routing import shard_of
from switchboard_stack import ServiceProcess, asyncpg_dsn, free_port

from tests.conftest import wait_until
from tests.proxy import Proxy
from tests.session.conftest import AUTH, StreamTap, Tap, auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE = auth("alice")
MARKER = "test-marker"


def service(database_url: str, broker: BrokerSettings) -> tuple[ServiceProcess, str]:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "AMQP_URL": broker.amqp_url,
        "BROKER_PREFIX": broker.broker_prefix,
        "JWT_SECRET": AUTH.jwt_secret.get_secret_value(),
        "SWITCHBOARD_ENV": "dev",
    }
    args = ["--host", "127.0.0.1", "--port", str(port)]
    return ServiceProcess("switchboard-session", args, env).start(), f"http://127.0.0.1:{port}"


async def new_session(client: httpx.AsyncClient) -> str:
    response = await client.post("/ai/sessions", json={}, headers=ALICE)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def say(client: httpx.AsyncClient, sid: str, content: str) -> httpx.Response:
    body = {"content": content}
    return await client.post(f"/ai/sessions/{sid}/message", json=body, headers=ALICE)


async def outbox_rows(database_url: str) -> list[Any]:
    return await fetch(database_url, "SELECT session_id, kind, routing FROM outbox ORDER BY id")


async def drained(database_url: str) -> bool:
    """Whether every outbox row has been published (and deleted)."""
    return await outbox_rows(database_url) == []


async def send_markers(broker: BrokerSettings, names: Names, sid: str) -> None:
    """A marker behind everything the service published (its publishes were confirmed, so
    already queued): a `message` event of `sid` on its stream, and a marker run request. Once
    a tap has its marker, nothing else of the service is still on its way there."""
    async with broker_connection(broker, "test-marker") as conn:
        channel = await conn.channel(publisher_confirms=True)
        marker = make_event("message", {"content": MARKER, "message_id": MARKER}, session_id=sid)
        stream = names.stream(shard_of(sid, broker.stream_shards))
        body = aio_pika.Message(encode(marker), content_type=BATCH_CONTENT_TYPE)
        await channel.default_exchange.publish(body, stream)
        commands = await channel.get_exchange(names.commands_exchange)
        await commands.publish(aio_pika.Message(MARKER.encode()), "run")


async def echoes_until_marker(events: StreamTap) -> list[str]:
    """The message ids of the session's `message` events, up to the marker."""
    got: list[str] = []
    while (event := await events.next_event(timeout=30)).data.message_id != MARKER:  # type: ignore[union-attr]
        got.append(event.data.message_id)  # type: ignore[union-attr]
    return got


async def runs_until_marker(commands: Tap) -> list[str]:
    """The run ids of the run requests, up to the marker."""
    got: list[str] = []
    while (message := await commands.next_message(timeout=30)).body != MARKER.encode():
        got.append(json.loads(message.body)["run_id"])
    return got


@pytest.mark.e2e
@pytest.mark.timeout(120)
async def test_a_message_committed_before_a_crash_goes_out_once_after_restart(
    database_url, broker_settings, names, tap, stream_tap
) -> None:
    proxy = await Proxy.for_url(broker_settings.amqp_url).start()
    stalled = broker_settings.model_copy(
        update={"amqp_url": proxy.url_for(broker_settings.amqp_url)}
    )
    first, url = service(database_url, stalled)
    try:
        await first.wait_http(f"{url}/ai/health", timeout=60)
        async with httpx.AsyncClient(base_url=url) as client:
            sid = await new_session(client)
            echoes = await stream_tap(sid, "message")
            requests = await tap(names.commands_exchange, "run")
            await wait_until(functools.partial(drained, database_url), timeout=30)
            proxy.pause()  # the service's publishes no longer reach the broker
            response = await say(client, sid, "survive the crash")
            assert response.status_code == 202, response.text  # committed
            accepted = response.json()
        assert [r["kind"] for r in await outbox_rows(database_url)] == ["event", "run"]
        first.kill()  # SIGKILL: committed, never published
    finally:
        first.kill()
        await proxy.close()
    second, url = service(database_url, broker_settings)
    try:
        await second.wait_http(f"{url}/ai/health", timeout=60)
        await wait_until(functools.partial(drained, database_url), timeout=30)
        await send_markers(broker_settings, names, sid)
        assert await echoes_until_marker(echoes) == [accepted["message_id"]]
        assert await runs_until_marker(requests) == [accepted["run_id"]]
    finally:
        second.stop()


COMMIT_FAILS = """
CREATE FUNCTION refuse_doomed() RETURNS trigger AS $$
BEGIN
    IF NEW.content = 'doomed' THEN
        RAISE EXCEPTION 'injected commit failure' USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER refuse_doomed_at_commit AFTER INSERT ON messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_doomed();
"""
"""A constraint checked at COMMIT, after the echo and the run request were written."""


async def test_a_failed_commit_publishes_nothing(
    client, tap, stream_tap, names, broker_settings
) -> None:
    database_url = client.database_url
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(COMMIT_FAILS)
    finally:
        await conn.close()
    sid = await new_session(client)
    echoes = await stream_tap(sid, "message")
    requests = await tap(names.commands_exchange, "run")
    failed = await say(client, sid, "doomed")
    assert failed.status_code == 500, failed.text
    accepted = await say(client, sid, "fine")
    assert accepted.status_code == 202, accepted.text  # the doomed run never became active
    await wait_until(functools.partial(drained, database_url), timeout=30)
    await send_markers(broker_settings, names, sid)
    assert await echoes_until_marker(echoes) == [accepted.json()["message_id"]]
    assert await runs_until_marker(requests) == [accepted.json()["run_id"]]
    stored = await fetch(database_url, "SELECT content FROM messages WHERE session_id = $1", sid)
    assert [r["content"] for r in stored] == ["fine"]


@pytest.mark.timeout(120)
async def test_two_replicas_publish_each_row_once_in_order(
    make_app, stream_tap, names, broker_settings, database_url
) -> None:
    # OUTBOX_POLL_S is lowered here only so both replicas' relays poll all the time and
    # contend for the same rows (left behind, as by a crash; no commit of theirs wakes them).
    await make_app(OUTBOX_POLL_S=0.02)
    await make_app(OUTBOX_POLL_S=0.02)
    sessions = [f"s{i:02d}" for i in range(20)]
    taps = {sid: await stream_tap(sid, "message") for sid in sessions}
    sent: dict[str, list[str]] = {sid: [] for sid in sessions}
    rows = []
    for n in range(30):
        for sid in sessions:
            data = {"content": f"{sid}-{n}", "message_id": f"m-{sid}-{n}"}
            event = make_event("message", data, session_id=sid)
            sent[sid].append(event.id)
            rows.append((sid, "event", "message", encode(event).decode()))
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        insert = "INSERT INTO outbox (session_id, kind, routing, body) VALUES ($1, $2, $3, $4)"
        for row in rows:  # one commit each: the relays' rounds overlap the arrivals
            await conn.execute(insert, *row)
    finally:
        await conn.close()
    await wait_until(functools.partial(drained, database_url), timeout=60)
    got: dict[str, list[str]] = {sid: [] for sid in sessions}
    for sid in sessions:
        await send_markers(broker_settings, names, sid)
        while (event := await taps[sid].next_event(timeout=30)).data.message_id != MARKER:  # type: ignore[union-attr]
            got[sid].append(event.id)
    assert got == sent


def newer_replicas_row(event_type: str, data: dict[str, Any], sid: str) -> str:
    """An event row as a newer replica writes it: encoded by this version, plus fields this
    version does not know, on the envelope and in `data`."""
    event = json.loads(encode(make_event(event_type, data, session_id=sid)))
    event["data"]["later_field"] = {"kept": [1, "two"]}
    event["later_envelope_field"] = "é"
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


async def test_a_stored_event_goes_out_as_it_was_stored(client, stream_tap, database_url) -> None:
    sid = "s-newer-row"
    taps = await stream_tap(sid)
    rows = [
        ("typing", newer_replicas_row("typing", {"status": "typing"}, sid)),
        ("token", newer_replicas_row("token", {"token": "t1 "}, sid)),
    ]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        insert = "INSERT INTO outbox (session_id, kind, routing, body) VALUES ($1, 'event', $2, $3)"
        for event_type, body in rows:
            await conn.execute(insert, sid, event_type, body)
    finally:
        await conn.close()
    for _, body in rows:
        assert await taps.next_line(timeout=30) == body.encode()  # every field, byte for byte
