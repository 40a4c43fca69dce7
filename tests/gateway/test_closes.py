"""Every close code of docs/protocol.md, and bad frames that never hurt the gateway (4408:
test_slow_consumer.py; 4409: test_delivery.py)."""

import asyncio
import json

import httpx
import psutil
import pytest
import websockets

from tests.gateway.conftest import Stack
from tests.gateway.helpers import (
    close_code,
    connect,
    events,
    foreign_token,
    frame_of,
    recv_json,
    token,
)

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def _refused(url: str, first: dict | None = None, **kwargs: object) -> int | None:
    ws = await websockets.connect(url, **kwargs)  # type: ignore[arg-type]
    if first is not None:
        try:
            await ws.send(json.dumps(first))
        except websockets.ConnectionClosed:
            pass  # closed before it asked for a token
    return await close_code(ws)


async def test_handshake_close_codes(stack: Stack) -> None:
    sid = await stack.session()
    auth = {"type": "auth", "token": token()}
    assert await _refused(stack.a.ws_url("no.such.id"), auth) == 4404
    assert await _refused(stack.a.ws_url(sid, "bad.client"), auth) == 4400
    assert await _refused(stack.a.ws_url(sid, ack="sometimes"), auth) == 4400
    assert await _refused(stack.a.ws_url(await stack.session(owner="bob")), auth) == 4404
    assert await _refused(stack.a.ws_url("01UNKNOWN"), auth) == 4404
    ended = await stack.session()
    await stack.end(ended)
    assert await _refused(stack.a.ws_url(ended), auth) == 4410
    assert await _refused(stack.a.ws_url(sid), {"type": "auth", "token": "garbage"}) == 4401
    assert await _refused(stack.a.ws_url(sid), {"type": "ping"}) == 4401
    assert await _refused(stack.a.ws_url(sid)) == 4401  # no auth frame within AUTH_TIMEOUT_S
    assert await _refused(stack.a.ws_url(sid), {"type": "auth", "token": foreign_token()}) == 4403
    header = {"Authorization": f"Bearer {token()}"}
    ws = await websockets.connect(stack.a.ws_url(sid), additional_headers=header)
    assert (await recv_json(ws))["type"] == "connected"
    await ws.close()


async def test_delete_sends_session_end_then_closes_every_socket_4410(stack: Stack) -> None:
    sid = await stack.session()
    phone, _ = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    await stack.end(sid)
    for ws in (phone, laptop):
        assert (await frame_of(ws, "session_end"))["session_id"] == sid
        assert await close_code(ws) == 4410


async def test_token_expiry_closes_4401_unless_refreshed(stack: Stack) -> None:
    sid = await stack.session()
    lapsing, _ = await connect(stack.a, sid, "a", tok=token(ttl_s=2))
    kept, _ = await connect(stack.a, sid, "b", tok=token(ttl_s=2))
    await kept.send(json.dumps({"type": "refresh", "token": token(ttl_s=60)}))
    await kept.send(json.dumps({"type": "refresh", "token": token("mallory", ttl_s=60)}))
    assert (await recv_json(kept))["code"] == "forbidden"
    assert await close_code(lapsing) == 4401
    await kept.send(json.dumps({"type": "ping"}))
    assert await recv_json(kept) == {"type": "pong"}
    await kept.close()


async def test_a_client_that_never_acks_gets_every_event(stack: Stack) -> None:
    """Acks are accepted and counted; delivery does not wait for them (v2)."""
    sid = await stack.session()
    ws, hello = await connect(stack.a, sid, "lazy", ack="client")
    ids = await stack.emitter.run(sid, hello["ack_window"] + 50)
    assert [e["id"] for e in await events(ws, len(ids))] == ids
    await ws.send(json.dumps({"type": "ack", "id": "never-sent"}))
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    await ws.close()


async def _metric(gw_http: str, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{gw_http}/metrics")).text
    lines = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    return float(lines[0].split()[1]) if lines else 0.0


async def test_bad_frames_get_error_frames_then_4400(stack: Stack) -> None:
    sid = await stack.session()
    ws, _ = await connect(stack.a, sid, "fuzz")
    bad = [
        "{nope",
        "[1,2]",
        '{"type": 7}',
        '{"type": "dance"}',
        '{"type": "ack"}',
        '{"type": "message"}',
        '{"type": "message", "content": "x", "metadata": 3}',
        '{"type": "refresh"}',
        b"\x00\x01",
    ]
    for frame in bad:
        await ws.send(frame)
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] and error["message"]
        assert error["data"] == {"code": error["code"], "message": error["message"]}
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}  # still open and well
    await ws.send("{nope")  # the tenth bad frame
    assert await close_code(ws) == 4400


async def test_oversized_frame_closes_1009(stack: Stack) -> None:
    ws, _ = await connect(stack.a, await stack.session(), "big")
    await ws.send(json.dumps({"type": "message", "content": "x" * 70_000}))
    assert await close_code(ws) == 1009


async def test_flood_is_rate_limited_then_closed_4429(stack: Stack) -> None:
    ws, _ = await connect(stack.a, await stack.session(), "flood")
    for _ in range(200):
        try:
            await ws.send('{"type": "ping"}')
        except websockets.ConnectionClosed:
            break
    frames = []
    try:
        async with asyncio.timeout(10):
            while True:
                frames.append(json.loads(await ws.recv()))
    except websockets.ConnectionClosed:
        pass
    assert ws.close_code == 4429
    assert {"type": "pong"} in frames
    assert any(f.get("code") == "rate_limited" for f in frames)


async def test_abuse_never_crashes_or_leaks(stack: Stack) -> None:
    proc = psutil.Process(stack.a.proc.proc.pid)  # type: ignore[union-attr]
    # 20 devices over two sessions: within MAX_DEVICES_PER_SESSION (16)
    sids = [await stack.session(), await stack.session()]

    async def abuse(i: int) -> None:
        ws, _ = await connect(stack.a, sids[i % 2], f"c{i}")
        for _ in range(9):
            await ws.send('{"type": "ack", "id": "nope"}')
        await ws.close()

    rss = []
    for _ in range(4):
        for _ in range(3):
            await asyncio.gather(*(abuse(i) for i in range(20)))
        rss.append(proc.memory_info().rss)
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{stack.a.http}/metrics")).text
        health = await http.get(f"{stack.a.http}/ai/health")
    assert health.status_code == 200
    # FIXME: ~50 KB/connection still grows here (allocator or a leak; see README)
    assert (rss[-1] - rss[1]) / 120 < 96 * 1024
    assert "gateway_connections 0.0" in metrics or "gateway_connections 1.0" not in metrics


@pytest.mark.timeout(60)
async def test_sigterm_closes_1001_and_the_device_resumes_elsewhere(stack: Stack) -> None:
    going = await stack.gateway()
    sid = await stack.session()
    ws, _ = await connect(going, sid, "phone")
    ids = await stack.emitter.run(sid, 10)
    got = await events(ws, 10)
    assert [e["id"] for e in got] == ids
    going.proc.proc.send_signal(15)  # type: ignore[union-attr]
    assert await close_code(ws) == 1001
    assert going.proc.proc.wait(15) in (0, -15)  # type: ignore[union-attr]  # uvicorn re-raises
    again, hello = await connect(stack.b, sid, "phone", cursor=got[4]["cursor"])
    assert hello["recovered"] is True
    assert [e["id"] for e in await events(again, 5)] == ids[5:]  # what it had not processed
    await again.close()


async def test_sockets_write_no_log_line_each(stack: Stack) -> None:
    """uvicorn's `[accepted]` line and websockets' "connection open/closed" (INFO, one each per
    socket: a few % of a reconnect storm's CPU) are not written."""
    sid = await stack.session()
    for n in range(3):
        ws, _ = await connect(stack.a, sid, f"quiet-{n}")
        await ws.close()
        await ws.wait_closed()
    log = stack.a.proc.output()
    assert f"/ai/ws/{sid}?client_id=quiet-0" not in log
    assert "[accepted]" not in log and "connection open" not in log
