"""Events reach every connected device in order; buffers survive drops, crashes and takeovers."""

import asyncio
import json

import pytest
import websockets

from tests.gateway.conftest import Stack
from tests.gateway.helpers import connect, events, recv_json

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def test_events_reach_every_device_in_order(stack: Stack) -> None:
    sid = stack.session()
    phone, hello = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    assert hello == {
        "type": "connected",
        "session_id": sid,
        "client_id": "phone",
        "resumed": False,
        "heartbeat_s": 25,
        "ack_window": 32,
    }
    ids = await stack.emitter.run(sid, 300)
    for ws in (phone, laptop):
        got = await events(ws, 300)
        assert [e["id"] for e in got] == ids
        assert [e["seq"] for e in got] == list(range(1, 301))
        assert got[0]["data"] == {"token": "t1 "} and got[0]["type"] == "token"
        await ws.close()


async def _receive_acking(ws: websockets.ClientConnection, want: set[str], seen: list[str]) -> None:
    """Receive (acking every 8 events) until every id in `want` was seen."""
    async with asyncio.timeout(30):
        while not want <= set(seen):
            event = (await events(ws, 1))[0]
            seen.append(event["id"])
            if len(seen) % 8 == 0 or want <= set(seen):
                await ws.send(json.dumps({"type": "ack", "id": event["id"]}))


async def test_reconnect_with_client_acks_resumes_from_the_buffer(stack: Stack) -> None:
    sid = stack.session()
    ws, hello = await connect(stack.a, sid, "tab", ack="client")
    assert hello["resumed"] is False
    ids = await stack.emitter.run(sid, 100)
    first = await events(ws, 32)  # the whole window, then the gateway waits for an ack
    await ws.send(json.dumps({"type": "ack", "id": first[19]["id"]}))
    await ws.close()
    again, hello = await connect(stack.b, sid, "tab", ack="client")
    assert hello["resumed"] is True
    seen = [e["id"] for e in first[:20]]
    await _receive_acking(again, set(ids), seen)
    # a batch is released when all its events are acked: the one holding event 21 comes again
    assert list(dict.fromkeys(seen)) == ids
    assert len(seen) - 100 < 64  # at most one AMQP message (COALESCE_MAX_EVENTS) came twice
    await again.close()


@pytest.mark.timeout(90)
async def test_gateway_killed_mid_stream_loses_nothing(stack: Stack) -> None:
    doomed = await stack.gateway()
    sid = stack.session()
    ws, _ = await connect(doomed, sid, "phone", ack="client")
    publishing = asyncio.create_task(stack.emitter.run(sid, 400, pause_every=20, pause_s=0.01))
    got = await events(ws, 32)
    await ws.send(json.dumps({"type": "ack", "id": got[20]["id"]}))
    doomed.proc.kill()
    ids = await publishing
    again, hello = await connect(stack.a, sid, "phone", ack="client")
    assert hello["resumed"] is True
    redelivered: list[str] = []
    await _receive_acking(again, set(ids), redelivered)
    assert set(redelivered) | {e["id"] for e in got} == set(ids)
    assert list(dict.fromkeys(redelivered)) == ids[ids.index(redelivered[0]) :]  # in order
    assert ids.index(redelivered[0]) <= 21  # the unacked rest of the first window came again
    await again.close()


async def test_takeover_across_gateways_gives_each_event_to_exactly_one(stack: Stack) -> None:
    sid = stack.session()
    old, _ = await connect(stack.a, sid, "phone")
    publishing = asyncio.create_task(stack.emitter.run(sid, 600, pause_every=10, pause_s=0.005))
    before = [e["id"] for e in await events(old, 50)]
    new, hello = await connect(stack.b, sid, "phone")
    assert hello["resumed"] is True
    old_ids = list(before)
    try:
        async with asyncio.timeout(15):
            while True:
                frame = json.loads(await old.recv())
                old_ids.append(frame["id"])
    except websockets.ConnectionClosed:
        pass
    assert old.close_code == 4409
    ids = await publishing
    new_ids = [e["id"] for e in await events(new, len(ids) - len(old_ids))]
    assert not set(old_ids) & set(new_ids)
    assert old_ids + new_ids == ids
    await new.close()


async def test_message_cancel_typing_and_ping(stack: Stack) -> None:
    sid = stack.session()
    phone, _ = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    await phone.send(json.dumps({"type": "message", "content": "/tokens 3", "metadata": {}}))
    accepted = await recv_json(phone)
    assert accepted["type"] == "message_accepted" and accepted["run_id"]
    assert (
        sid,
        "message",
        {
            "client_id": "phone",
            "body": {"content": "/tokens 3", "metadata": {}},
            "content_type": "application/json",
        },
    ) in stack.standin.calls
    await phone.send(json.dumps({"type": "typing"}))
    typing = await recv_json(laptop)
    assert typing["type"] == "typing" and typing["metadata"] == {"client_id": "phone"}
    assert typing["run_id"] is None and typing["data"] == {"status": "typing", "message": ""}
    stack.standin.sessions[sid].busy = True
    await phone.send(json.dumps({"type": "message", "content": "again"}))
    refused = await recv_json(phone)
    assert refused["type"] == "error" and refused["code"] == "run_active"
    await phone.send(json.dumps({"type": "cancel"}))
    refused = await recv_json(phone)
    assert refused["code"] == "run_active"
    await phone.send(json.dumps({"type": "ping"}))
    assert await recv_json(phone) == {"type": "pong"}  # its own typing was not echoed
    await phone.close()
    await laptop.close()


async def test_voice_audio_is_posted_and_text_sessions_refuse_binary(stack: Stack) -> None:
    voice = stack.session(mode="voice")
    ws, _ = await connect(stack.a, voice, "mic")
    await ws.send(b"RIFF....WAVEfmt ")
    accepted = await recv_json(ws)
    assert accepted["type"] == "message_accepted"
    assert (voice, "audio", {"client_id": "mic", "body": 16, "content_type": "audio/wav"}) in (
        stack.standin.calls
    )
    text = stack.session()
    ws2, _ = await connect(stack.a, text, "mic")
    await ws2.send(b"RIFF")
    error = await recv_json(ws2)
    assert error["code"] == "not_voice" and error["data"]["code"] == "not_voice"
    await ws.close()
    await ws2.close()
