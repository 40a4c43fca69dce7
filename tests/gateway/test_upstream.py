"""A gateway whose session service is down: clear 503s and 1013, never a stack trace."""

import httpx
import pytest
import websockets

from tests.gateway.conftest import Stack
from tests.gateway.helpers import close_code, start_gateway, token
from tests.procs import free_port

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
                assert answer.json()["error"]["code"] == "upstream_unavailable"
            health = await http.get("/ai/health")
            assert health.status_code == 503 and health.json()["failed"] == ["session_service"]
        ws = await websockets.connect(gw.ws_url("01SESSION"), additional_headers=auth)
        assert await close_code(ws) == 1013
    finally:
        gw.proc.stop()
