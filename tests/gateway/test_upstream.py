"""A gateway whose session service is down: clear 503s and 1013, never a stack trace."""

import asyncio

import httpx
import pytest
import websockets
from switchboard_protocol import ErrorEnvelope
from switchboard_stack import free_port

from tests.gateway.conftest import Stack
from tests.gateway.helpers import close_code, start_gateway, token

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def test_session_service_down(stack: Stack) -> None:
    gw = await start_gateway(stack.broker, f"http://127.0.0.1:{free_port()}", "/metrics")
    try:
        auth = {"Authorization": f"Bearer {token()}"}
        async with httpx.AsyncClient(base_url=gw.http, timeout=10) as http:
            for call in (
                http.post("/ai/sessions", json={}, headers=auth),
                http.get("/ai/sessions/x", headers=auth),
                http.get("/ai/stats", headers=auth),
                http.get("/openapi.json"),
            ):
                answer = await call
                assert answer.status_code == 503
                error = ErrorEnvelope.model_validate_json(answer.content).error  # strict
                assert error.code == "upstream_unavailable"
            health = await http.get("/ai/health")
            assert health.status_code == 503 and health.json()["failed"] == ["session_service"]
        ws = await websockets.connect(gw.ws_url("01SESSION"), additional_headers=auth)
        assert await close_code(ws) == 1013
    finally:
        gw.proc.stop()


class ClosingUpstream:
    """A session service stand-in that answers the first request on each connection and
    closes the connection, without a word, when a second one arrives on it: what a server
    closing a kept-alive connection looks like to the client that reuses it."""

    def __init__(self) -> None:
        self.served = 0
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for turn in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                if turn == 1:
                    self.dropped += 1
                    return
                self.served += 1
                body = b'{"status": "active", "mode": "text"}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def test_idempotent_calls_survive_a_closed_keepalive_connection(stack: Stack) -> None:
    """GETs are sent once more on a fresh connection (issue 12, item 8); a POST is not."""
    upstream = ClosingUpstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gw = await start_gateway(stack.broker, f"http://127.0.0.1:{port}", "/metrics")
    try:
        auth = {"Authorization": f"Bearer {token()}"}
        async with httpx.AsyncClient(base_url=gw.http, timeout=10) as http:
            for _ in range(4):
                answer = await http.get("/ai/sessions/S1", headers=auth)
                assert answer.status_code == 200, answer.text
            assert upstream.dropped >= 1  # the gateway did meet a closed connection
            answers = [await http.post("/ai/sessions/S1/cancel", headers=auth) for _ in range(2)]
            assert {a.status_code for a in answers} <= {200, 503}
    finally:
        gw.proc.stop()
        server.close()
        await server.wait_closed()
