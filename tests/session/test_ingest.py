"""Ingest from the shard streams: exactly-once storage across a restart, a standby taking over,
and catch-up answers consistent with their `position` (real RabbitMQ and Postgres)."""

import asyncio
import shutil
import uuid
from contextlib import AsyncExitStack
from typing import Any

import aio_pika
import httpx
import pytest
from switchboard_events import BrokerSettings, Names, broker_connection, encode, make_event
from switchboard_events.codec import BATCH_CONTENT_TYPE, encode_batch
from switchboard_events.routing import CATCHUP_REQUEST, shard_of
from switchboard_protocol import CatchUpReply
from switchboard_session import persist, progress

from tests.conftest import wait_until
from tests.session.conftest import auth, fetch, make_settings, running, token

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE = auth("alice")


async def _session_and_run(client: httpx.AsyncClient) -> tuple[str, str]:
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    answer = await client.post(f"/ai/sessions/{sid}/message", json={"content": "hi"}, headers=ALICE)
    assert answer.status_code == 202, answer.text
    return sid, answer.json()["run_id"]


async def _publish_batch(
    settings: BrokerSettings, names: Names, sid: str, events: list[Any]
) -> None:
    """One batch message on the session's shard stream, as a publisher sends it (confirmed)."""
    stream = names.stream(shard_of(sid, settings.stream_shards))
    async with broker_connection(settings, "test-ingest-publish") as conn:
        channel = await conn.channel(publisher_confirms=True)
        body = encode_batch([encode(event) for event in events])
        message = aio_pika.Message(body, content_type=BATCH_CONTENT_TYPE, delivery_mode=2)
        await channel.default_exchange.publish(message, stream)


async def _offset(database_url: str, names: Names, sid: str, shards: int) -> int | None:
    rows = await fetch(
        database_url,
        'SELECT "offset" FROM stream_offsets WHERE stream = $1',
        names.stream(shard_of(sid, shards)),
    )
    return int(rows[0]["offset"]) if rows else None


async def _tool_rows(database_url: str, sid: str) -> list[Any]:
    return await fetch(
        database_url,
        "SELECT event_id, seq FROM messages WHERE session_id = $1 AND role = 'tool'",
        sid,
    )


def _calls(sid: str, run_id: str, first_seq: int, count: int) -> list[Any]:
    return [
        make_event(
            "tool_call",
            {"call_id": f"c{seq}", "tool_name": "echo", "parameters": {"n": seq}},
            session_id=sid,
            run_id=run_id,
            seq=seq,
        )
        for seq in range(first_seq, first_seq + count)
    ]


@pytest.mark.timeout(90)
async def test_a_restart_mid_stream_stores_every_event_once(
    database_url: str, broker_settings: BrokerSettings, names: Names, monkeypatch: Any
) -> None:
    """Five batches stored, then ingest is stopped inside the transaction of the sixth; a new
    process stores the rest from the stored offset + 1: every row once, the offset at the last
    batch, and nothing stored before the stop read again."""
    settings = make_settings(database_url, broker_settings)
    shards = settings.stream_shards
    hang, hanging = asyncio.Event(), asyncio.Event()
    original_fold = progress.fold_runs

    async def fold_or_hang(*args: Any) -> None:
        if hang.is_set():
            hanging.set()
            await asyncio.Event().wait()  # stopped here, inside the transaction
        await original_fold(*args)

    monkeypatch.setattr(progress, "fold_runs", fold_or_hang)
    async with running(settings) as client:
        sid, run_id = await _session_and_run(client)
        batches = [_calls(sid, run_id, 1 + 5 * i, 5) for i in range(20)]
        for i, batch in enumerate(batches[:5]):
            await _publish_batch(broker_settings, names, sid, batch)

            async def stored(want: int = 5 * (i + 1)) -> bool:
                return len(await _tool_rows(database_url, sid)) == want

            await wait_until(stored, timeout=20)
        before = await _offset(database_url, names, sid, shards)
        hang.set()
        for batch in batches[5:]:
            await _publish_batch(broker_settings, names, sid, batch)
        await asyncio.wait_for(hanging.wait(), 20)
    assert len(await _tool_rows(database_url, sid)) == 25
    assert await _offset(database_url, names, sid, shards) == before
    monkeypatch.setattr(progress, "fold_runs", original_fold)
    seen: list[str] = []
    original_store = persist.store_events

    async def spy(ctx: Any, db: Any, events: list[Any]) -> list[str]:
        seen.extend(event.id for _, event in events)
        return await original_store(ctx, db, events)

    monkeypatch.setattr(persist, "store_events", spy)
    async with running(settings):

        async def all_stored() -> bool:
            return len(await _tool_rows(database_url, sid)) == 100

        await wait_until(all_stored, timeout=30)
    rows = await _tool_rows(database_url, sid)
    assert len({row["event_id"] for row in rows}) == 100
    assert sorted(row["seq"] for row in rows) == list(range(2, 102))  # no gap, none twice
    first_five = {event.id for batch in batches[:5] for event in batch}
    assert not first_five & set(seen)
    after = await _offset(database_url, names, sid, shards)
    assert before is not None and after is not None and after >= before + 15


async def _owner(clients: list[httpx.AsyncClient]) -> int | None:
    for i, client in enumerate(clients):
        if "session_ingest_owner 1.0" in (await client.get("/metrics")).text:
            return i
    return None


@pytest.mark.timeout(90)
async def test_a_standby_takes_over_when_the_owner_stops(
    database_url: str, broker_settings: BrokerSettings, names: Names
) -> None:
    """Two replicas: one owns ingest; when it stops, the other takes the lock (within
    INGEST_RETRY_S) and stores what follows, from where the first one stopped."""
    settings = make_settings(database_url, broker_settings)
    async with AsyncExitStack() as first, AsyncExitStack() as second:
        clients = [
            await first.enter_async_context(running(settings)),
            await second.enter_async_context(running(settings)),
        ]
        owner: list[int | None] = [None]

        async def owned() -> bool:
            owner[0] = await _owner(clients)
            return owner[0] is not None

        await wait_until(owned, timeout=20)
        sid, run_id = await _session_and_run(clients[0])
        await _publish_batch(broker_settings, names, sid, _calls(sid, run_id, 1, 3))

        async def stored(want: int) -> bool:
            return len(await _tool_rows(database_url, sid)) == want

        await wait_until(lambda: stored(3), timeout=20)
        standby = 1 - int(owner[0] or 0)
        await (first if owner[0] == 0 else second).aclose()
        await _publish_batch(broker_settings, names, sid, _calls(sid, run_id, 4, 3))
        await wait_until(lambda: stored(6), timeout=30)
        assert await _owner([clients[standby]]) == 0
        reply = await _catch_up(broker_settings, names, sid)
        assert reply.active_run is not None and reply.active_run.seq == 6
        assert reply.position == await _offset(database_url, names, sid, settings.stream_shards)


async def _catch_up(settings: BrokerSettings, names: Names, sid: str) -> CatchUpReply:
    """Ask the session service for `sid`'s catch-up, as a gateway does."""
    async with broker_connection(settings, "test-catch-up") as conn:
        channel = await conn.channel()
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        correlation = uuid.uuid4().hex
        request = aio_pika.Message(
            f'{{"session_id":"{sid}"}}'.encode(),
            type=CATCHUP_REQUEST,
            reply_to=replies.name,
            correlation_id=correlation,
        )
        await channel.default_exchange.publish(request, names.progress_queue)
        async with replies.iterator() as messages:
            async for message in messages:
                await message.ack()
                if message.correlation_id == correlation:
                    return CatchUpReply.read_json(message.body)
    raise AssertionError("no reply")


async def _text_after(
    settings: BrokerSettings, names: Names, sid: str, position: int, last: int
) -> str:
    """The token text of `sid`'s events at offsets position+1 .. last of its stream."""
    import json

    if position >= last:
        return ""
    stream = names.stream(shard_of(sid, settings.stream_shards))
    text: list[str] = []
    async with broker_connection(settings, "test-replay") as conn:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=100)
        queue = await channel.get_queue(stream)
        done = asyncio.Event()

        async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            offset = int((message.headers or {})["x-stream-offset"])  # type: ignore[arg-type]
            if offset > position and message.content_type == BATCH_CONTENT_TYPE:
                for line in message.body.split(b"\n"):
                    raw = json.loads(line)
                    if raw["session_id"] == sid and raw["type"] == "token":
                        text.append(raw["data"]["token"])
            if offset >= last:
                done.set()

        start = position + 1
        await queue.consume(take, arguments={"x-stream-offset": start})
        await asyncio.wait_for(done.wait(), 20)
    return "".join(text)


@pytest.mark.timeout(90)
async def test_catch_up_state_and_position_add_up_to_the_whole_run(
    client: httpx.AsyncClient, broker_settings: BrokerSettings, names: Names
) -> None:
    """While a run's tokens stream in, each catch-up's text plus the session's tokens after its
    `position` is the run's whole text: nothing missing, nothing twice."""
    sid, run_id = await _session_and_run(client)
    start = make_event("run_start", {}, session_id=sid, run_id=run_id, seq=1)
    await _publish_batch(broker_settings, names, sid, [start])
    words = [f"w{i} " for i in range(60)]
    replies: list[CatchUpReply] = []

    async def stream_tokens() -> None:
        for i in range(0, 60, 3):
            tokens = [
                make_event("token", {"token": w}, session_id=sid, run_id=run_id, seq=2 + i + j)
                for j, w in enumerate(words[i : i + 3])
            ]
            await _publish_batch(broker_settings, names, sid, tokens)

    publishing = asyncio.create_task(stream_tokens())
    while not publishing.done():
        replies.append(await _catch_up(broker_settings, names, sid))
    await publishing
    replies.append(await _catch_up(broker_settings, names, sid))

    async def folded() -> bool:
        reply = await _catch_up(broker_settings, names, sid)
        return reply.active_run is not None and reply.active_run.seq == 61

    await wait_until(folded, timeout=20)
    last = (await _catch_up(broker_settings, names, sid)).position
    whole = "".join(words)
    for reply in replies:
        assert reply.active_run is not None
        seen = reply.active_run.text
        assert seen + await _text_after(broker_settings, names, sid, reply.position, last) == whole
    assert len({reply.position for reply in replies}) > 1 or len(replies) == 1


@pytest.mark.timeout(60)
async def test_a_batch_published_twice_folds_once(
    client: httpx.AsyncClient, broker_settings: BrokerSettings, names: Names
) -> None:
    """A publisher's retry after a lost confirm can put a batch on the stream twice: the run's
    text, tool calls and seq count it once (folding skips what its seq says is folded)."""
    sid, run_id = await _session_and_run(client)
    tokens = [
        make_event("token", {"token": f"t{seq} "}, session_id=sid, run_id=run_id, seq=seq)
        for seq in (1, 2, 3)
    ]
    call = _calls(sid, run_id, 4, 1)
    for _ in range(2):
        await _publish_batch(broker_settings, names, sid, tokens)
        await _publish_batch(broker_settings, names, sid, call)
    last = make_event("token", {"token": "end"}, session_id=sid, run_id=run_id, seq=5)
    await _publish_batch(broker_settings, names, sid, [last])  # after every copy on the stream

    async def folded() -> bool:
        reply = await _catch_up(broker_settings, names, sid)
        return reply.active_run is not None and reply.active_run.seq == 5

    await wait_until(folded, timeout=20)
    reply = await _catch_up(broker_settings, names, sid)
    assert reply.active_run is not None
    assert reply.active_run.text == "t1 t2 t3 end"
    assert [call["call_id"] for call in reply.active_run.tool_calls] == ["c4"]
    assert len(await _tool_rows(client.database_url, sid)) == 1  # type: ignore[attr-defined]


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_the_rpc_consumer_comes_back_after_the_broker_closes_its_connection(
    client: httpx.AsyncClient, broker_settings: BrokerSettings, names: Names
) -> None:
    """The owner's RPC connection is cut by the broker: catch-ups are answered again (with what
    was stored meanwhile) and the replica still owns ingest."""
    sid, run_id = await _session_and_run(client)
    await _publish_batch(broker_settings, names, sid, _calls(sid, run_id, 1, 1))
    assert (await _catch_up(broker_settings, names, sid)).active_run is not None
    name = f"switchboard-session-rpc {broker_settings.broker_prefix}".rstrip()
    listing = await _run("rabbitmqctl", "-q", "list_connections", "pid", "client_properties")
    pids = [line.split("\t")[0] for line in listing.splitlines() if name in line]
    assert len(pids) == 1, listing
    await _run("rabbitmqctl", "-q", "close_connection", pids[0], "test: connection cut")
    await _publish_batch(broker_settings, names, sid, _calls(sid, run_id, 2, 1))

    async def answered_with_both() -> bool:
        reply = await asyncio.wait_for(_catch_up(broker_settings, names, sid), 20)
        return reply.active_run is not None and reply.active_run.seq == 2

    await wait_until(answered_with_both, timeout=30)
    metrics = (await client.get("/metrics")).text
    assert "session_ingest_owner 1.0" in metrics


async def _idle_at(client: httpx.AsyncClient, sid: str, client_id: str) -> Any:
    """The batched device check's `idle_at` for one device (its body must be a 200's)."""
    device = {"token": token("alice"), "session_id": sid, "client_id": client_id}
    answer = await client.post("/internal/device-checks", json={"devices": [device]}, headers=ALICE)
    assert answer.status_code == 200, answer.text
    result = answer.json()["results"][0]
    assert result["status"] == 200, result
    return result.get("idle_at")


@pytest.mark.timeout(60)
async def test_a_device_check_of_an_idle_session_carries_the_catch_up_answer(
    client: httpx.AsyncClient, database_url: str, broker_settings: BrokerSettings, names: Names
) -> None:
    """A known device of a session with no run in progress gets `idle_at`: its shard and the
    stored offset read with the session, what a catch-up request answers (no active run, that
    position); none while a run is in progress, for a new device or an ended session; back,
    past the run's end, once ingest folded it."""
    shards = broker_settings.stream_shards
    sid, run_id = await _session_and_run(client)
    assert await _idle_at(client, sid, "default") is None  # the run is in progress
    end = make_event("run_end", {"status": "completed"}, session_id=sid, run_id=run_id, seq=2)
    start = make_event("run_start", {}, session_id=sid, run_id=run_id, seq=1)
    await _publish_batch(broker_settings, names, sid, [start, end])

    async def idle_again() -> bool:
        return await _idle_at(client, sid, "default") is not None

    await wait_until(idle_again, timeout=20)
    idle_at = await _idle_at(client, sid, "default")
    reply = await _catch_up(broker_settings, names, sid)  # nothing else is published meanwhile
    assert reply.active_run is None
    assert idle_at == {"shard": shard_of(sid, shards), "position": reply.position}
    assert reply.position == await _offset(database_url, names, sid, shards)
    assert await _idle_at(client, sid, "phone") is None  # registered now: its own transaction
    assert await _idle_at(client, sid, "phone") == idle_at  # known from then on
    assert (await client.delete(f"/ai/sessions/{sid}", headers=ALICE)).status_code == 204
    device = {"token": token("alice"), "session_id": sid, "client_id": "default"}
    answer = await client.post("/internal/device-checks", json={"devices": [device]}, headers=ALICE)
    assert answer.json()["results"][0]["body"]["status"] == "ended"
    assert answer.json()["results"][0].get("idle_at") is None
