"""Poison messages never stop persistence (issue 12, items 1, 9, 10): the session service, the
run worker and the tool worker in this process, real RabbitMQ and Postgres. Each attack runs
next to a bystander (bob) whose run must complete and be stored meanwhile."""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
from switchboard_events import (
    BrokerSettings,
    Names,
    broker_connection,
    encode,
    make_event,
)
from switchboard_events.codec import BATCH_CONTENT_TYPE, encode_batch
from switchboard_events.deadletter_admin import depth, peek
from switchboard_events.routing import shard_of
from switchboard_protocol.wav import write_wav
from switchboard_session import persist

from tests.conftest import wait_until
from tests.session.conftest import auth, fetch
from tests.worker.harness import running_tools, running_worker, tool_settings, worker_settings

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE, BOB = auth("alice"), auth("bob")
POISON = {"x": "\u0000"}
"""A NUL in tool parameters: the stub refuses it (`bad_directive`), but a model's tool
arguments or an MCP tool's result can carry one, so a producer publishes it here."""
SILENCE = write_wav(bytes(16000), 16000)
"""Half a second of silence: a readable WAV in which nothing is heard (`no_speech`)."""


@pytest.fixture
async def workers(broker_settings: BrokerSettings) -> AsyncIterator[None]:
    async with (
        running_tools(tool_settings(broker_settings)),
        running_worker(worker_settings(broker_settings)),
    ):
        yield


async def new_session(client: httpx.AsyncClient, who: dict[str, str], **body: Any) -> str:
    answer = await client.post("/ai/sessions", json=body, headers=who)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def send(
    client: httpx.AsyncClient, who: dict[str, str], sid: str, content: str, on_busy: str = "reject"
) -> str:
    body = {"content": content, "on_busy": on_busy}
    answer = await client.post(f"/ai/sessions/{sid}/message", json=body, headers=who)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


async def run_row(client: httpx.AsyncClient, run_id: str) -> Any:
    rows = await fetch(client.database_url, "SELECT * FROM runs WHERE id = $1", run_id)  # type: ignore[attr-defined]
    return rows[0] if rows else None


async def wait_run_ended(client: httpx.AsyncClient, run_id: str, timeout: float = 30) -> Any:
    async def ended() -> bool:
        row = await run_row(client, run_id)
        return row is not None and row["status"] in ("completed", "failed", "cancelled")

    await wait_until(ended, timeout=timeout)
    return await run_row(client, run_id)


async def bystander_run(client: httpx.AsyncClient) -> None:
    """bob's `/tokens 5`: its run ends completed and its reply is stored."""
    sid = await new_session(client, BOB)
    run = await wait_run_ended(client, await send(client, BOB, sid, "/tokens 5"))
    assert run["status"] == "completed" and run["response_message_id"]
    got = (await client.get(f"/ai/sessions/{sid}", headers=BOB)).json()
    assert got["active_run"] is None
    assert [m["role"] for m in got["messages"]] == ["user", "assistant"]
    assert len(got["messages"][1]["content"].split()) == 5


async def _publish_poison(
    settings: BrokerSettings, names: Names, sids: list[str], runs: list[str]
) -> None:
    """11 tool calls with a NUL in each of alice's runs, as a run worker would publish them
    (one event per batch message on the session's shard stream)."""
    async with broker_connection(settings, "test-poison") as conn:
        channel = await conn.channel(publisher_confirms=True)
        for sid, run_id in zip(sids, runs, strict=True):
            stream = names.stream(shard_of(sid, settings.stream_shards))
            for i in range(11):
                call = {"call_id": f"c{i}", "tool_name": "echo"}
                for kind, data in (
                    ("tool_call", {**call, "parameters": POISON}),
                    ("tool_result", {**call, "result": POISON}),
                ):
                    event = make_event(kind, data, session_id=sid, run_id=run_id, seq=100 + 2 * i)
                    message = aio_pika.Message(
                        encode(event), content_type=BATCH_CONTENT_TYPE, delivery_mode=2
                    )
                    await channel.default_exchange.publish(message, stream)


async def dead_letters(settings: BrokerSettings, names: Names, source: str) -> int:
    async with broker_connection(settings, "test-dead-letters") as conn:
        return await depth(conn, names, source)


async def test_poison_tool_calls_are_dead_lettered_and_bystanders_are_stored(
    client, workers, broker_settings, names
) -> None:
    """33 tool calls x (tool_call + tool_result with a NUL) = 66 poison events in alice's
    sessions (a model or MCP tool producing them): each is parked once; alice's run still ends;
    bob's run is stored meanwhile."""
    sids = [await new_session(client, ALICE) for _ in range(3)]
    runs = [await send(client, ALICE, sid, "/tokens 1") for sid in sids]
    for run_id in runs:
        assert (await wait_run_ended(client, run_id))["status"] == "completed"
    publishing = asyncio.create_task(_publish_poison(broker_settings, names, sids, runs))
    await bystander_run(client)
    await publishing

    async def parked() -> bool:
        return await dead_letters(broker_settings, names, "session-store") >= 66

    await wait_until(parked, timeout=30)
    async with broker_connection(broker_settings, "test-peek") as conn:
        letters = await peek(await conn.channel(), names, "session-store", 200)
    assert {p.reason for p in letters} == {"bad_data"}
    streams = {names.stream(shard_of(sid, broker_settings.stream_shards)) for sid in sids}
    assert {p.source_queue for p in letters} <= streams
    assert all(p.error.startswith("SQLSTATE 22P05") for p in letters), letters[0].error
    assert {p.routing_key for p in letters} <= streams
    heads = [re.search(r'"session_id":"(\w+)".*"type":"(\w+)"', p.body) for p in letters]
    assert all(heads)
    assert {head.group(1) for head in heads if head} <= set(sids)  # alice's only
    kinds = sorted({head.group(2) for head in heads if head})
    assert kinds == ["tool_call", "tool_result"] and len(letters) == 66
    metrics = (await client.get("/metrics")).text
    assert 'session_dead_letters_total{reason="bad_data",source="session-store"} 66.0' in metrics
    assert 'session_dead_letters_waiting{source="session-store"} 66.0' in metrics


async def test_a_bad_event_in_a_batch_does_not_lose_the_others(
    client, broker_settings, names
) -> None:
    """One batch message carrying an unreadable line, a poison event and a good one: the good
    one is stored, the other two are dead-lettered, and the stored offset moves past the batch."""
    sid = await new_session(client, ALICE)
    run = await send(client, ALICE, sid, "/tool echo")
    bad = make_event(
        "tool_call",
        {"call_id": "c1", "tool_name": "echo", "parameters": {"x": "\x00"}},
        session_id=sid,
        run_id=run,
        seq=1,
    )
    good = make_event("run_end", {"status": "completed"}, session_id=sid, run_id=run, seq=2)
    async with broker_connection(broker_settings, "test-batch") as conn:
        channel = await conn.channel(publisher_confirms=True)
        body = encode_batch([b'{"not": "an event"', encode(bad), encode(good)])
        message = aio_pika.Message(body, content_type=BATCH_CONTENT_TYPE)
        stream = names.stream(shard_of(sid, broker_settings.stream_shards))
        await channel.default_exchange.publish(message, stream)
    assert (await wait_run_ended(client, run))["status"] == "completed"
    assert await dead_letters(broker_settings, names, "session-store") == 2
    async with broker_connection(broker_settings, "test-peek") as conn:
        letters = await peek(await conn.channel(), names, "session-store", 10)
    assert [p.reason for p in letters] == ["invalid_event", "bad_data"]
    assert {p.source_queue for p in letters} == {stream}
    [row] = await fetch(
        client.database_url,  # type: ignore[attr-defined]
        'SELECT "offset" FROM stream_offsets WHERE stream = $1',
        stream,
    )
    assert row["offset"] >= 0


async def test_transient_failures_are_retried_bounded_then_replayed(
    client, publish, broker_settings, names, monkeypatch
) -> None:
    """A failure a retry might fix (here a serialization failure, 40001) is retried
    PERSIST_MAX_TRIES times with backoff (its shard waits; other shards go on), then parked;
    `switchboard-session dead-letters replay` sends it back to its stream once the cause is
    gone."""
    sid = await new_session(client, ALICE)
    run = await send(client, ALICE, sid, "/tokens 1")
    doomed = make_event("run_end", {"status": "completed"}, session_id=sid, run_id=run, seq=9)
    original = persist.store_event
    calls = 0

    async def flaky(ctx: Any, db: Any, session: Any, event: Any) -> None:
        nonlocal calls
        if event.id == doomed.id:
            calls += 1
            raise SerializationFailure()
        await original(ctx, db, session, event)

    monkeypatch.setattr(persist, "store_event", flaky)
    await publish(doomed)
    bob_sid = await new_session(client, BOB)
    bob_run = await send(client, BOB, bob_sid, "/tokens 1")
    bob_end = make_event("run_end", {"status": "completed"}, session_id=bob_sid, run_id=bob_run)
    await publish(bob_end)  # stored while alice's event waits for its next try
    assert (await wait_run_ended(client, bob_run))["status"] == "completed"

    async def parked() -> bool:
        return await dead_letters(broker_settings, names, "session-store") == 1

    await wait_until(parked, timeout=30)
    assert calls == 5  # PERSIST_MAX_TRIES, the shipped default
    assert (await run_row(client, run))["status"] != "completed"
    monkeypatch.setattr(persist, "store_event", original)  # the cause is fixed: replay
    monkeypatch.setenv("AMQP_URL", broker_settings.amqp_url)
    monkeypatch.setenv("BROKER_PREFIX", broker_settings.broker_prefix)
    from switchboard_session.cli import main

    argv = ["dead-letters", "replay", "--source", "session-store"]
    assert await asyncio.to_thread(main, argv) == 0
    assert (await wait_run_ended(client, run))["status"] == "completed"
    assert await dead_letters(broker_settings, names, "session-store") == 0


class SerializationFailure(Exception):
    sqlstate = "40001"


async def test_unreadable_run_request_frees_the_session(client, workers, monkeypatch) -> None:
    """A run request the worker cannot validate ends its run failed (`bad_run_request`), is
    dead-lettered, and the session takes the next message; bob is unaffected."""
    from switchboard_session.store import runs as store_runs

    original = store_runs.run_request

    def corrupt(run: Any, session: Any, *history: Any) -> Any:
        request = original(run, session, *history)
        # model_copy skips validation: the only way a writer puts a bad mode on the wire
        return (
            request.model_copy(update={"mode": "unreadable"})
            if run.content == "poison"
            else request
        )

    monkeypatch.setattr(store_runs, "run_request", corrupt)
    sid = await new_session(client, ALICE)
    run = await wait_run_ended(client, await send(client, ALICE, sid, "poison"))
    assert run["status"] == "failed" and run["error"].startswith("bad_run_request")
    await bystander_run(client)
    nxt = await wait_run_ended(client, await send(client, ALICE, sid, "/tokens 2"))
    assert nxt["status"] == "completed"


async def test_audio_is_not_kept_after_its_run_ends(client, workers) -> None:
    """Silence as audio: the run fails `no_speech` and its audio is gone from `runs`."""
    sid = await new_session(client, ALICE, mode="voice", client_id="phone")
    headers = {**ALICE, "Content-Type": "audio/wav", "X-Client-Id": "phone"}
    answer = await client.post(f"/ai/sessions/{sid}/audio", content=SILENCE, headers=headers)
    assert answer.status_code == 202, answer.text
    run = await wait_run_ended(client, answer.json()["run_id"])
    assert run["status"] == "failed" and run["error"].startswith("no_speech")
    assert run["audio_b64"] is None
    await bystander_run(client)


async def test_audio_retention_setting_keeps_it_until_the_sweeper(make_app, workers) -> None:
    # AUDIO_RETENTION_S and SWEEP_INTERVAL_S are shortened to see the sweeper clear it here.
    client = await make_app(AUDIO_RETENTION_S=0.5, SWEEP_INTERVAL_S=0.2)
    sid = await new_session(client, ALICE, mode="voice", client_id="phone")
    headers = {**ALICE, "Content-Type": "audio/wav", "X-Client-Id": "phone"}
    answer = await client.post(f"/ai/sessions/{sid}/audio", content=SILENCE, headers=headers)
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]
    await wait_run_ended(client, run_id)

    async def cleared() -> bool:
        return (await run_row(client, run_id))["audio_b64"] is None

    await wait_until(cleared, timeout=15)


async def test_refused_tokens_write_bounded_audit_rows(client) -> None:
    """200 refused requests with 60 KB paths and user agents: one audit row for the source
    this window (refusals.py; the other 199 are counted), and it stays small."""
    long_path = "/ai/sessions/" + "x" * 60_000
    headers = {"Authorization": "Bearer nope", "User-Agent": "u" * 60_000}
    for _ in range(200):
        assert (await client.get(long_path, headers=headers)).status_code in (401, 404)
    rows = await fetch(
        client.database_url,
        "SELECT count(*) AS n, max(pg_column_size(detail)) AS biggest FROM audit_log"
        " WHERE action = 'auth.failed'",
    )
    assert rows[0]["n"] == 1 and rows[0]["biggest"] < 2048
    await bystander_run_rest_only(client)


async def bystander_run_rest_only(client: httpx.AsyncClient) -> None:
    sid = await new_session(client, BOB)
    assert (await client.get(f"/ai/sessions/{sid}", headers=BOB)).status_code == 200
