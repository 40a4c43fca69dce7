"""Events reach every device of a session in order, each with its cursor; a device that comes
back with its last cursor, on any replica, gets exactly what it missed, then the live tail."""

import asyncio
import io
import json
import wave
from typing import Any

import pytest
import websockets
from switchboard_gateway.settings import GatewaySettings

from tests.gateway.conftest import Stack
from tests.gateway.helpers import close_code, connect, events, frame_of, token

DEFAULT_ACK_WINDOW = GatewaySettings.model_fields["ack_window"].default

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def test_events_reach_every_device_in_order_with_cursors(stack: Stack) -> None:
    sid = await stack.session()
    phone, hello = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    assert hello == {
        "type": "connected",
        "session_id": sid,
        "client_id": "phone",
        "resumed": False,
        "recovered": False,
        "heartbeat_s": 25,
        "ack_window": DEFAULT_ACK_WINDOW,
    }
    ids = await stack.emitter.run(sid, 300)
    seen = []
    for ws in (phone, laptop):
        got = await events(ws, 300)
        assert [e["id"] for e in got] == ids
        assert [e["seq"] for e in got] == list(range(1, 301))
        assert got[0]["data"] == {"token": "t1 "} and got[0]["type"] == "token"
        assert next(iter(got[0])) == "cursor" and len({e["cursor"] for e in got}) == 300
        seen.append([e["cursor"] for e in got])
        await ws.close()
    assert seen[0] == seen[1]  # a position is the event's, whichever replica sends it


@pytest.mark.parametrize("where", ["same gateway", "other gateway"])
async def test_a_cursor_resumes_exactly_after_it_then_live(stack: Stack, where: str) -> None:
    """The device drops mid-run and comes back with the cursor of the last event it processed,
    while events keep coming: no gap, no duplicate, across the replay and the live tail."""
    sid = await stack.session()
    ws, _ = await connect(stack.a, sid, "tab")
    publishing = asyncio.create_task(stack.emitter.run(sid, 400, pause_every=20, pause_s=0.01))
    got = await events(ws, 60)
    await ws.close()
    gateway = stack.a if where == "same gateway" else stack.b
    again, hello = await connect(gateway, sid, "tab", cursor=got[-1]["cursor"])
    assert hello["recovered"] is True and hello["resumed"] is True
    assert "active_run" not in hello
    ids = await publishing
    rest = await events(again, len(ids) - 60, timeout=30)
    assert [e["id"] for e in got + rest] == ids
    await _nothing_more(again)


async def test_a_cursor_in_the_query_string_works_too(stack: Stack) -> None:
    sid = await stack.session()
    reader, _ = await connect(stack.a, sid, "r")
    ids = await stack.emitter.run(sid, 3)
    got = await events(reader, 3)
    await reader.close()
    resumed = await websockets.connect(stack.b.ws_url(sid, "r", cursor=got[0]["cursor"]))
    await resumed.send(json.dumps({"type": "auth", "token": token()}))
    assert json.loads(await resumed.recv())["recovered"] is True
    assert [e["id"] for e in await events(resumed, 2)] == ids[1:]
    await _nothing_more(resumed)


@pytest.mark.parametrize("how", ["wrong tag", "another session", "past the end", "garbage"])
async def test_a_cursor_whose_event_is_not_there_is_not_recovered(stack: Stack, how: str) -> None:
    """The client then loads history (GET /ai/sessions/{id}) and continues live."""
    sid, other = await stack.session(), await stack.session()
    ws, _ = await connect(stack.a, sid, "d")
    await stack.emitter.run(sid, 2)
    mine = (await events(ws, 2))[-1]["cursor"]
    await ws.close()
    shard, offset, index, tag = mine.split(".")
    cursor = {
        "wrong tag": f"{shard}.{offset}.{index}.ZZZZZZZZ",
        "another session": mine,
        "past the end": f"{shard}.{int(offset) + 10**9}.0.{tag}",
        "garbage": "not-a-cursor",
    }[how]
    target = other if how == "another session" else sid
    again, hello = await connect(stack.b, target, "d", cursor=cursor)
    assert hello["recovered"] is False and hello["resumed"] is False
    if how == "garbage":
        error = await frame_of(again, "error")
        assert error["code"] == "invalid_cursor"
    ids = await stack.emitter.run(target, 3)
    assert [e["id"] for e in await events(again, 3)] == ids  # live from now on
    await again.close()


@pytest.mark.timeout(90)
async def test_gateway_killed_mid_stream_loses_nothing(stack: Stack) -> None:
    doomed = await stack.gateway()
    sid = await stack.session()
    ws, _ = await connect(doomed, sid, "phone")
    publishing = asyncio.create_task(stack.emitter.run(sid, 400, pause_every=20, pause_s=0.01))
    got = await events(ws, 32)
    doomed.proc.kill()
    again, hello = await connect(stack.a, sid, "phone", cursor=got[-1]["cursor"])
    assert hello["recovered"] is True
    ids = await publishing
    rest = await events(again, len(ids) - 32, timeout=30)
    assert [e["id"] for e in got + rest] == ids
    await again.close()


async def test_takeover_closes_the_older_connection_4409_on_any_replica(stack: Stack) -> None:
    """The newer connection of a device resumes from its cursor; the older one is closed 4409
    wherever it is, and a release that comes late never closes the newer one."""
    sid = await stack.session()
    old, _ = await connect(stack.a, sid, "phone")
    publishing = asyncio.create_task(stack.emitter.run(sid, 600, pause_every=10, pause_s=0.005))
    before = await events(old, 50)
    new, hello = await connect(stack.b, sid, "phone", cursor=before[-1]["cursor"])
    assert hello["recovered"] is True
    assert await close_code(old, timeout=15) == 4409
    ids = await publishing
    rest = await events(new, len(ids) - 50, timeout=30)
    assert [e["id"] for e in before + rest] == ids
    newest, _ = await connect(stack.a, sid, "phone", cursor=rest[-1]["cursor"])
    assert await close_code(new, timeout=15) == 4409
    await newest.send(json.dumps({"type": "ping"}))
    assert (await frame_of(newest, "pong"))["type"] == "pong"
    await newest.close()


async def test_a_device_without_cursor_mid_run_gets_the_catch_up_then_the_rest(
    stack: Stack,
) -> None:
    sid = await stack.session()
    watcher, _ = await connect(stack.a, sid, "watcher")
    await watcher.send(json.dumps({"type": "message", "content": "/tokens 60 rate=40"}))
    run_id = (await frame_of(watcher, "message_accepted"))["run_id"]
    while (await frame_of(watcher, "token"))["seq"] < 10:
        pass
    late, hello = await connect(stack.b, sid, "late")
    active = hello["active_run"]
    assert hello["recovered"] is False and active["run_id"] == run_id
    run = [e for e in await _until_run_end(late) if e["run_id"] == run_id]
    tokens = [e["data"]["token"] for e in run if e["type"] == "token"]
    assert active["text"] + "".join(tokens) == "".join(f"t{i} " for i in range(1, 61))
    assert [e["seq"] for e in run] == list(range(active["seq"] + 1, run[-1]["seq"] + 1))
    await late.close()
    await watcher.close()


async def _until_run_end(ws: websockets.ClientConnection) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while not got or got[-1]["type"] != "run_end":
            frame = json.loads(await ws.recv())
            if "cursor" in frame:
                got.append(frame)
    return got


async def _nothing_more(ws: websockets.ClientConnection) -> None:
    """No further event arrives (a ping's pong comes first)."""
    await ws.send(json.dumps({"type": "ping"}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame == {"type": "pong"}, frame
    await ws.close()


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
    # a session that never had a run: the session service's refusal comes back as an error
    # frame (right after a run_end the service may not have stored that end yet)
    idle, _ = await connect(stack.a, await stack.session(), "idle")
    await idle.send(json.dumps({"type": "cancel"}))
    assert (await frame_of(idle, "error"))["code"] == "no_active_run"
    await phone.send(json.dumps({"type": "ping"}))
    await frame_of(phone, "pong")
    for ws in (phone, laptop, idle):
        await ws.close()


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
