"""Events reach every connected device in order; buffers survive drops, crashes and takeovers."""

import asyncio
import io
import json
import wave

import pytest
import websockets
from switchboard_events import broker_connection, declare_device_queue, names_from
from switchboard_gateway.settings import GatewaySettings

from tests.gateway.conftest import Stack
from tests.gateway.helpers import Emitter, connect, events, frame_of, receive_acking

DEFAULT_ACK_WINDOW = GatewaySettings.model_fields["ack_window"].default

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def test_events_reach_every_device_in_order(stack: Stack) -> None:
    sid = await stack.session()
    phone, hello = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    assert hello == {
        "type": "connected",
        "session_id": sid,
        "client_id": "phone",
        "resumed": False,
        "heartbeat_s": 25,
        "ack_window": DEFAULT_ACK_WINDOW,
    }
    ids = await stack.emitter.run(sid, 300)
    for ws in (phone, laptop):
        got = await events(ws, 300)
        assert [e["id"] for e in got] == ids
        assert [e["seq"] for e in got] == list(range(1, 301))
        assert got[0]["data"] == {"token": "t1 "} and got[0]["type"] == "token"
        await ws.close()


async def test_reconnect_with_client_acks_resumes_from_the_buffer(stack: Stack) -> None:
    sid = await stack.session()
    ws, hello = await connect(stack.a, sid, "tab", ack="client")
    assert hello["resumed"] is False
    ids = await stack.emitter.run(sid, 100)
    first = await events(ws, 32)
    await ws.send(json.dumps({"type": "ack", "id": first[19]["id"]}))
    await ws.close()
    again, hello = await connect(stack.b, sid, "tab", ack="client")
    assert hello["resumed"] is True
    seen = [e["id"] for e in first[:20]]
    await receive_acking(again, hello["ack_window"], set(ids), seen)
    # a batch is released when all its events are acked: the one holding event 21 comes again
    assert list(dict.fromkeys(seen)) == ids
    assert len(seen) - 100 < 64  # at most one AMQP message (COALESCE_MAX_EVENTS) came twice
    await again.close()


async def test_client_acks_every_half_window_with_one_event_per_message(stack: Stack) -> None:
    """Shipped defaults, each event its own AMQP message (model-like rates): a device that acks
    exactly every half window and never when idle gets every event. (With PREFETCH 16 messages
    in flight, such a device stalled after 16 events.)"""
    sid = await stack.session()
    ws, hello = await connect(stack.a, sid, "strict", ack="client")
    unbatched = Emitter(stack.broker.model_copy(update={"coalesce_max_events": 1}))
    ids = await unbatched.run(sid, 2 * hello["ack_window"] + 10)
    seen: list[str] = []
    await receive_acking(ws, hello["ack_window"], set(ids), seen)
    assert seen == ids
    await ws.close()


@pytest.mark.timeout(90)
async def test_gateway_killed_mid_stream_loses_nothing(stack: Stack) -> None:
    doomed = await stack.gateway()
    sid = await stack.session()
    ws, _ = await connect(doomed, sid, "phone", ack="client")
    publishing = asyncio.create_task(stack.emitter.run(sid, 400, pause_every=20, pause_s=0.01))
    got = await events(ws, 32)
    await ws.send(json.dumps({"type": "ack", "id": got[20]["id"]}))
    doomed.proc.kill()
    ids = await publishing
    again, hello = await connect(stack.a, sid, "phone", ack="client")
    assert hello["resumed"] is True
    # The ack races the kill: when the doomed gateway handled it, events 1-21 are gone for
    # good; when not, they come again. Either is right, so wait for what the device had not
    # read (waiting for all 400 timed out whenever the ack won, as under load).
    read = {e["id"] for e in got}
    redelivered: list[str] = []
    await receive_acking(again, hello["ack_window"], set(ids) - read, redelivered)
    assert set(redelivered) | read == set(ids)
    assert list(dict.fromkeys(redelivered)) == ids[ids.index(redelivered[0]) :]  # in order
    assert ids.index(redelivered[0]) <= 21  # the unacked rest of the first window came again
    await again.close()


async def test_takeover_across_gateways_gives_each_event_to_exactly_one(stack: Stack) -> None:
    sid = await stack.session()
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
    sid = await stack.session()
    phone, _ = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    await phone.send(json.dumps({"type": "message", "content": "/tokens 3", "metadata": {}}))
    accepted = await frame_of(phone, "message_accepted")
    echo = await frame_of(laptop, "message")
    assert echo["data"]["client_id"] == "phone" and echo["data"]["content"] == "/tokens 3"
    assert echo["data"]["message_id"] == accepted["message_id"]
    run = await _run_events(laptop, accepted["run_id"])
    assert [e["data"]["token"] for e in run if e["type"] == "token"] == ["t1 ", "t2 ", "t3 "]
    await phone.send(json.dumps({"type": "typing"}))
    typing = await frame_of(laptop, "typing")
    assert typing["metadata"] == {"client_id": "phone"} and typing["run_id"] is None
    assert typing["data"] == {"status": "typing", "message": ""}
    await phone.send(json.dumps({"type": "message", "content": "/sleep 30"}))
    sleeping = await frame_of(phone, "message_accepted")
    await frame_of(laptop, "waiting")  # the run is active now
    await phone.send(json.dumps({"type": "message", "content": "again"}))
    refused = await frame_of(phone, "error")
    assert refused["code"] == "run_active" and refused["data"]["code"] == "run_active"
    await phone.send(json.dumps({"type": "cancel"}))
    ended = [e for e in await _run_events(laptop, sleeping["run_id"]) if e["type"] == "run_end"]
    assert ended[0]["data"] == {"status": "cancelled"}
    await phone.send(json.dumps({"type": "cancel"}))
    assert (await frame_of(phone, "error"))["code"] == "no_active_run"
    await phone.send(json.dumps({"type": "ping"}))
    await frame_of(phone, "pong")
    await phone.close()
    await laptop.close()


async def _run_events(ws: websockets.ClientConnection, run_id: str) -> list[dict]:
    """The events of one run, up to and including its run_end."""
    got: list[dict] = []
    async with asyncio.timeout(20):
        while not got or got[-1]["type"] != "run_end":
            frame = json.loads(await ws.recv())
            if frame.get("run_id") == run_id:
                got.append(frame)
    return got


def _wav(seconds: float = 0.2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(16000 * seconds))
    return buffer.getvalue()


async def test_voice_audio_starts_a_run_and_text_sessions_refuse_binary(stack: Stack) -> None:
    voice = await stack.session(mode="voice")
    ws, _ = await connect(stack.a, voice, "mic")
    await ws.send(_wav())
    frames: list[dict] = []
    async with asyncio.timeout(20):  # the run's first events may come before the acceptance
        while not any(f.get("type") == "run_end" for f in frames):
            frames.append(json.loads(await ws.recv()))
    accepted = next(f for f in frames if f["type"] == "message_accepted")
    run = [f for f in frames if f.get("run_id") == accepted["run_id"] and "seq" in f]  # events
    assert run[0]["type"] in ("stt", "run_start")
    assert "stt" in {e["type"] for e in run} and run[-1]["type"] == "run_end"
    assert any(e["type"] == "stt" for e in run)
    text = await stack.session()
    ws2, _ = await connect(stack.a, text, "mic")
    await ws2.send(b"RIFF")
    error = await frame_of(ws2, "error")
    assert error["code"] == "not_voice" and error["data"]["code"] == "not_voice"
    await ws.close()
    await ws2.close()


async def test_device_queues_made_by_test_processes_expire_within_a_minute(stack: Stack) -> None:
    """Every process a test starts gets the run's DEVICE_BUFFER_TTL_S (tests/infra.py): the
    session service (the creating device's queue) and the gateways (a connecting device's).
    Redeclaring a queue with other arguments fails, so this proves their x-expires."""
    assert stack.broker.device_buffer_ttl_s <= 60
    sid = await stack.session()  # the session service declares the "default" device's queue
    extra = await stack.gateway()
    try:
        for gateway, client in ((stack.a, "phone"), (extra, "laptop")):
            ws, _ = await connect(gateway, sid, client)
            await ws.close()
        async with broker_connection(stack.broker, "test-expiry") as conn:
            channel = await conn.channel()
            for client in ("default", "phone", "laptop"):
                await declare_device_queue(
                    channel, names_from(stack.broker), stack.broker, sid, client
                )
    finally:
        extra.proc.stop()
