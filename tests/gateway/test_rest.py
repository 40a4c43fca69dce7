"""The gateway as the one public URL: REST proxied to the real session service, stats with
live connections, health, metrics, and an OpenAPI document that describes it all."""

import asyncio

import httpx
import pytest

from tests.gateway.conftest import Stack
from tests.gateway.helpers import connect, token

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e]


def _auth(user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


async def test_sessions_through_the_gateway(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.a.http, timeout=10) as http:
        created = await http.post("/ai/sessions", json={"mode": "text"}, headers=_auth())
        assert created.status_code == 201
        sid = created.json()["id"]
        listed = await http.get("/ai/sessions", params={"limit": 100}, headers=_auth())
        assert sid in [s["id"] for s in listed.json()["items"]]
        sent = await http.post(
            f"/ai/sessions/{sid}/message", json={"content": "hello"}, headers=_auth()
        )
        assert sent.status_code == 202 and set(sent.json()) == {"message_id", "run_id"}
        detail = await http.get(f"/ai/sessions/{sid}", headers=_auth())
        assert detail.json()["messages"][0]["content"] == "hello"
        assert (await http.get(f"/ai/sessions/{sid}", headers=_auth("bob"))).status_code == 404
        bad = await http.post("/ai/sessions", content=b"{nope", headers=_auth())
        assert bad.status_code == 422 and bad.json()["error"]["code"]
        assert (await http.delete(f"/ai/sessions/{sid}", headers=_auth())).status_code == 204
        ended = await http.get(f"/ai/sessions/{sid}", headers=_auth())
        assert ended.json()["status"] == "ended"
        assert (await http.get("/ai/sessions")).status_code == 401


async def test_stats_count_live_connections_on_every_replica(stack: Stack) -> None:
    sid = await stack.session("carol")
    ws, _ = await connect(stack.a, sid, "phone", tok=token("carol"))
    other, _ = await connect(stack.b, sid, "laptop", tok=token("carol"))
    async with httpx.AsyncClient(base_url=stack.a.http, timeout=10) as http:
        stats = (await http.get("/ai/stats", headers=_auth("carol"))).json()
        assert stats["live_connections"] == 2 and stats["sessions"] >= 1
        assert (await http.get("/ai/stats", headers=_auth("dave"))).json()["live_connections"] == 0
        await other.close()
        await ws.close()
        health = await http.get("/ai/health")
        assert health.status_code == 200 and health.json()["failed"] == []
        metrics = (await http.get("/metrics")).text
        assert "gateway_events_delivered_total" in metrics


async def test_openapi_describes_the_proxied_routes(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.a.http, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    create = paths["/ai/sessions"]["post"]
    assert "requestBody" in create and "201" in create["responses"]
    assert "get" in paths["/ai/sessions"] and "delete" in paths["/ai/sessions/{session_id}"]
    message = paths["/ai/sessions/{session_id}/message"]["post"]
    assert message["requestBody"]["content"]["application/json"]["schema"]
    stats = paths["/ai/stats"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "live_connections" in str(stats) or "live_connections" in str(spec["components"])
    assert "/ai/health" in paths and "/metrics" in paths
    assert not any("{rest" in path for path in paths)  # no catch-all routes in the contract


async def _raw_get(base: str, path: str, headers: dict[str, str]) -> int:
    """The status of a GET sent with exactly this path (an HTTP client would resolve `..`)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}Connection: close\r\n\r\n".encode())
        async with asyncio.timeout(10):
            status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_the_proxy_does_not_climb_out_of_the_routes_it_forwards(stack: Stack) -> None:
    """`/ai/sessions/../../metrics` must not reach the session service's own /metrics (or its
    internal routes): httpx would resolve the dot segments on the way."""
    for path in (
        "/ai/sessions/../../metrics",
        "/ai/sessions/%2e%2e/%2E%2E/internal/device-checks",
        "/ai/sessions/x/./devices",
    ):
        assert await _raw_get(stack.a.http, path, _auth()) == 404, path
    assert await _raw_get(stack.a.http, "/ai/sessions", _auth()) == 200
