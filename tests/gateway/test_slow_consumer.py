"""A client that stops reading is closed 4408 in bounded time (its outbound buffer is bounded)
and resumes by cursor with nothing lost."""

import asyncio
import json
import socket
import time

import httpx
import pytest
import websockets

from tests.gateway.conftest import Stack
from tests.gateway.helpers import connect, events, token

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


@pytest.mark.timeout(90)
async def test_client_that_stops_reading_is_closed_4408_and_resumes_by_cursor(
    stack: Stack,
) -> None:
    # 1 s instead of the shipped 10 s: the test measures that the close comes in bounded time,
    # and a short timeout keeps the stalled socket's backlog (and the test) small.
    gw = await stack.gateway(SLOW_CONSUMER_TIMEOUT_S="1")
    try:
        sid = await stack.session()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gw.port))
        stalled = await websockets.connect(gw.ws_url(sid, "stalled"), sock=sock, max_queue=1)
        await stalled.send(json.dumps({"type": "auth", "token": token()}))
        assert json.loads(await stalled.recv())["type"] == "connected"
        stalled.transport.pause_reading()  # from now on nothing is read from the socket
        started = time.monotonic()
        ids = await stack.emitter.run(sid, 3000, pad=1000)
        async with asyncio.timeout(30):
            while "4408" not in await _closes(gw.http):
                await asyncio.sleep(0.1)
        assert time.monotonic() - started < 30
        written = await _read_until_closed(stalled)  # what reached the socket before the close
        assert stalled.close_code == 4408
        assert [e["id"] for e in written] == ids[: len(written)] and len(written) < len(ids)
        again, hello = await connect(gw, sid, "stalled", cursor=written[-1]["cursor"])
        assert hello["recovered"] is True
        rest = await events(again, len(ids) - len(written), timeout=30)
        assert [e["id"] for e in written + rest] == ids  # none lost, none twice
        await again.close()
    finally:
        gw.proc.stop()


async def _read_until_closed(ws: websockets.ClientConnection) -> list[dict]:
    ws.transport.resume_reading()
    got: list[dict] = []
    async with asyncio.timeout(20):
        try:
            while True:
                got.append(json.loads(await ws.recv()))
        except websockets.ConnectionClosed:
            return got


async def _closes(base: str) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{base}/metrics")).text
    return " ".join(line for line in text.splitlines() if line.startswith("gateway_closes_total"))
