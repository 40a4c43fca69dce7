"""Issue 12, items 9 and 11: what Postgres or the workers cannot take (NUL, lone surrogates,
NaN/Infinity, deep nesting), odd cursors, long `X-Forwarded-For` or `sub`: 422 / 401 on REST
and an `error` frame on a WebSocket, never 500 or 1011; nothing stored; forged
`X-Forwarded-For` not believed; process totals not shown to users."""

import asyncio
import base64
import json

import asyncpg
import httpx
import pytest
import websockets
from switchboard_edge.auth import DEFAULT_SECRET
from switchboard_events import BrokerSettings
from switchboard_stack import asyncpg_dsn

from tests.security.tokens import claims, good, sign_hs256
from tests.security.wsclient import ws_base
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

DEEP = "[" * 30_000 + "]" * 30_000
"""60 000 bytes: under the 64 KiB frame and body limits, far past Python's recursion limit."""
UNSTORABLE = {
    "nul": '{"content": "a\\u0000b"}',
    "lone_surrogate": '{"content": "\\ud800"}',
    "nan": '{"content": "hi", "metadata": {"x": NaN}}',
    "infinity": '{"content": "hi", "metadata": {"x": -Infinity}}',
    "huge_number": '{"content": "hi", "metadata": {"x": 1e400}}',
    "nested_200": '{"content": "hi", "metadata": ' + '{"a": ' * 200 + "1" + "}" * 201,
    "nested_30000": '{"content": "hi", "metadata": ' + DEEP + "}",
    "nul_key": '{"content": "hi", "metadata": {"k\\u0000": 1}}',
}


def _auth(user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {good(user)}", "Content-Type": "application/json"}


async def _session(http: httpx.AsyncClient, user: str = "alice") -> str:
    created = await http.post("/ai/sessions", json={"mode": "text"}, headers=_auth(user))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize("name", sorted(UNSTORABLE))
async def test_unstorable_bodies_get_422_and_change_nothing(
    secure: tuple[Stack, BrokerSettings], name: str
) -> None:
    stack, _ = secure
    for base in (stack.url, stack.session_url):
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            sid = await _session(http)
            raw = UNSTORABLE[name]
            sent = await http.post(f"/ai/sessions/{sid}/message", content=raw, headers=_auth())
            assert sent.status_code == 422, (base, sent.text[:300])
            assert sent.json()["error"]["code"] == "validation_error"
            made = await http.post("/ai/sessions", content=raw, headers=_auth())
            assert made.status_code == 422, made.text[:300]
            detail = await http.get(f"/ai/sessions/{sid}", headers=_auth())
            assert detail.json()["messages"] == [] and detail.json()["active_run"] is None


def _cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


ODD_CURSORS = {
    "lone_surrogate_id": _cursor({"c": "2024-01-01T00:00:00+00:00", "i": "\ud800"}),
    "nul_id": _cursor({"c": "2024-01-01T00:00:00+00:00", "i": "a\u0000"}),
    "naive_time": _cursor({"c": "2024-01-01T00:00:00", "i": "abc"}),
    "overflowing_time": _cursor({"c": "0001-01-01T00:00:00+14:00", "i": "abc"}),
    "not_an_object": _cursor([1, 2]),
    "long": "A" * 10_000,
    "garbage": "%%%",
}


async def test_odd_cursors_get_422(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, _ = secure
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        for name, cursor in ODD_CURSORS.items():
            page = await http.get("/ai/sessions", params={"cursor": cursor}, headers=_auth())
            assert page.status_code == 422, (name, page.text[:200])
        # the connection the gateway shares among users still serves the next one
        assert (await http.get("/ai/sessions", headers=_auth("bob"))).status_code == 200


async def test_long_or_odd_subjects_get_401(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, _ = secure
    tokens = {
        "long": sign_hs256(claims("u" * 10_000), DEFAULT_SECRET.encode()),
        "256_chars": sign_hs256(claims("u" * 256), DEFAULT_SECRET.encode()),
        "nul": sign_hs256(claims("a\u0000b"), DEFAULT_SECRET.encode()),
        "lone_surrogate": sign_hs256(claims("\ud800"), DEFAULT_SECRET.encode()),
    }
    for base in (stack.url, stack.session_url):
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            for name, token in tokens.items():
                answer = await http.get(
                    "/ai/sessions", headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 401, (base, name, answer.text[:200])
    limit = sign_hs256(claims("u" * 255), DEFAULT_SECRET.encode())
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        answer = await http.get("/ai/sessions", headers={"Authorization": f"Bearer {limit}"})
        assert answer.status_code == 200


async def test_forwarded_for_is_not_believed(secure: tuple[Stack, BrokerSettings]) -> None:
    """TRUSTED_PROXIES is empty by default: the audit log records the peer, not the header,
    and a long or odd header is no error."""
    stack, _ = secure
    forged = {"X-Forwarded-For": "6.6.6.6", "Authorization": "Bearer nope"}
    long_one = {"X-Forwarded-For": "1" * 8000, "Authorization": "Bearer nope"}
    for base in (stack.url, stack.session_url):
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            assert (await http.get("/ai/sessions", headers=forged)).status_code == 401
            assert (await http.get("/ai/sessions", headers=long_one)).status_code == 401
            sid = await _session(http)
            headers = {**_auth(), "X-Forwarded-For": "1" * 8000}
            sent = await http.post(
                f"/ai/sessions/{sid}/message", json={"content": "hi"}, headers=headers
            )
            assert sent.status_code == 202, sent.text[:200]
    dsn = asyncpg_dsn(stack.env["DATABASE_URL"])
    db = await asyncpg.connect(dsn)
    try:
        ips = {row["ip"] for row in await db.fetch("SELECT DISTINCT ip FROM audit_log")}
    finally:
        await db.close()
    assert "6.6.6.6" not in ips and ips <= {"127.0.0.1", None}, ips


async def test_stats_show_no_process_totals(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, _ = secure
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        stats = (await http.get("/ai/stats", headers=_auth())).json()
        assert "live_connections" in stats and "gateway_live_connections" not in stats
        assert "gateway_connections " in (await http.get("/metrics")).text


FRAMES = {
    "nan": ('{"type": "message", "content": "hi", "metadata": {"x": NaN}}', "invalid_field"),
    "deep": ('{"type": "message", "content": "hi", "metadata": ' + DEEP + "}", "invalid_field"),
    "nul": ('{"type": "message", "content": "a\\u0000"}', "invalid_field"),
    "lone_surrogate": ('{"type": "message", "content": "\\udc00"}', "invalid_field"),
    "deep_top": (DEEP, "invalid_field"),
    "not_json": ("{nope", "bad_json"),
}


async def test_unstorable_frames_get_error_frames(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, _ = secure
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        sid = await _session(http)
    url = f"{ws_base(stack.url)}/ai/ws/{sid}?client_id=edge"
    async with websockets.connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "auth", "token": good()}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connected"
        for name, (raw, code) in FRAMES.items():
            await ws.send(raw)
            frame = await _next_of(ws, "error")
            assert frame["code"] == code, (name, frame)
        await ws.send('{"type": "ping"}')
        assert (await _next_of(ws, "pong"))["type"] == "pong"  # still open, nothing closed 1011
    async with websockets.connect(url, open_timeout=10) as ws:
        await ws.send(DEEP)  # as the auth frame
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        assert ws.close_code == 4401


async def _next_of(ws: websockets.ClientConnection, kind: str) -> dict[str, object]:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame  # type: ignore[no-any-return]
