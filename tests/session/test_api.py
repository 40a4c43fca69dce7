"""Session CRUD, auth, ownership, pagination, validation and error shapes."""

import httpx
import pytest
from switchboard_edge.auth import AuthSettings, issue_dev_token

from tests.session.conftest import AUTH, auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker]


async def create(client: httpx.AsyncClient, user: str = "alice", **body: object) -> dict:
    response = await client.post("/ai/sessions", json=body, headers=auth(user))
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_and_get_session(client: httpx.AsyncClient) -> None:
    session = await create(client, agent_type="personal", mode="voice", metadata={"k": 1})
    assert session["user_id"] == "alice"
    assert session["mode"] == "voice" and session["status"] == "active"
    assert session["metadata"] == {"k": 1}
    assert session["ws_url"] == f"/ai/ws/{session['id']}"
    assert session["expires_at"] > session["created_at"]
    got = (await client.get(f"/ai/sessions/{session['id']}", headers=auth("alice"))).json()
    assert got["id"] == session["id"] and got["messages"] == [] and got["active_run"] is None


async def test_public_ws_base_makes_absolute_ws_url(make_app) -> None:
    client = await make_app(PUBLIC_WS_BASE="wss://chat.example.com/")
    session = await create(client)
    assert session["ws_url"] == f"wss://chat.example.com/ai/ws/{session['id']}"


async def test_another_user_gets_404_everywhere(client: httpx.AsyncClient) -> None:
    sid = (await create(client))["id"]
    bob = auth("bob")
    calls = [
        client.get(f"/ai/sessions/{sid}", headers=bob),
        client.delete(f"/ai/sessions/{sid}", headers=bob),
        client.post(f"/ai/sessions/{sid}/message", json={"content": "hi"}, headers=bob),
        client.post(f"/ai/sessions/{sid}/cancel", headers=bob),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "session_not_found"
    assert (await client.get("/ai/sessions", headers=bob)).json()["items"] == []
    still = await client.get(f"/ai/sessions/{sid}", headers=auth("alice"))
    assert still.json()["status"] == "active"


async def test_auth_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/ai/sessions")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
    bad = await client.get("/ai/sessions", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    expired = issue_dev_token("alice", AUTH, ttl_s=-100)
    assert (
        await client.get("/ai/sessions", headers={"Authorization": f"Bearer {expired}"})
    ).status_code == 401
    other = AuthSettings(JWT_SECRET=AUTH.jwt_secret.get_secret_value(), JWT_AUDIENCE="other")
    wrong_aud = issue_dev_token("alice", other)
    forbidden = await client.get("/ai/stats", headers={"Authorization": f"Bearer {wrong_aud}"})
    # no audience configured here: a token with an aud claim was meant for another service
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"


async def test_wrong_audience_is_403(make_app) -> None:
    secret = AUTH.jwt_secret.get_secret_value()
    client = await make_app(auth=AuthSettings(JWT_SECRET=secret, JWT_AUDIENCE="switchboard"))
    ours = issue_dev_token("alice", AuthSettings(JWT_SECRET=secret, JWT_AUDIENCE="switchboard"))
    theirs = issue_dev_token("alice", AuthSettings(JWT_SECRET=secret, JWT_AUDIENCE="billing"))
    ok = await client.get("/ai/stats", headers={"Authorization": f"Bearer {ours}"})
    assert ok.status_code == 200
    refused = await client.get("/ai/stats", headers={"Authorization": f"Bearer {theirs}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_auth_failures_are_audited(client: httpx.AsyncClient, database_url: str) -> None:
    await client.get("/ai/sessions", headers={"Authorization": "Bearer nope"})
    rows = await fetch(database_url, "SELECT action, detail FROM audit_log")
    assert [r["action"] for r in rows] == ["auth.failed"]


async def test_prod_mode_refuses_default_secret_and_hides_dev_token(make_app) -> None:
    from switchboard_session.app import create_app
    from switchboard_session.settings import SessionSettings

    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        create_app(SessionSettings(SWITCHBOARD_ENV="prod"))
    prod = AuthSettings(SWITCHBOARD_ENV="prod", JWT_SECRET=AUTH.jwt_secret.get_secret_value())
    client = await make_app(auth=prod)
    assert (await client.post("/ai/dev/token", json={"user_id": "x"})).status_code == 404


async def test_list_is_newest_first_and_paginates(client: httpx.AsyncClient) -> None:
    ids = [(await create(client))["id"] for _ in range(5)]
    await create(client, user="bob")
    await client.delete(f"/ai/sessions/{ids[0]}", headers=auth("alice"))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/ai/sessions", params=params, headers=auth("alice"))).json()
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    active = (await client.get("/ai/sessions?status=active", headers=auth("alice"))).json()
    assert [s["id"] for s in active["items"]] == list(reversed(ids[1:]))
    ended = (await client.get("/ai/sessions?status=ended", headers=auth("alice"))).json()
    assert [s["id"] for s in ended["items"]] == [ids[0]]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("post", "/ai/sessions", {"json": {"mode": "video"}}, "mode"),
        ("post", "/ai/sessions", {"json": {"client_id": "a.b"}}, "client_id"),
        ("post", "/ai/sessions", {"json": {"nope": 1}}, "nope"),
        (
            "post",
            "/ai/sessions",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            "",
        ),
        ("get", "/ai/sessions?limit=0", {}, "limit"),
        ("get", "/ai/sessions?status=gone", {}, "status"),
        ("get", "/ai/sessions?cursor=@@@", {}, "cursor"),
    ],
)
async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict, field: str
) -> None:
    headers = {**auth("alice"), **kwargs.pop("headers", {})}
    response = await client.request(method.upper(), path, headers=headers, **kwargs)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert (await client.get("/ai/sessions", headers=auth("alice"))).json()["items"] == []


async def test_unknown_route_and_method_use_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = await client.put("/ai/sessions", headers=auth("alice"))
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    unknown = await client.get("/ai/sessions/doesnotexist", headers=auth("alice"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "session_not_found"


async def test_delete_is_idempotent_and_get_shows_ended(
    client: httpx.AsyncClient, stream_tap
) -> None:
    sid = (await create(client))["id"]
    events = await stream_tap(sid, "session_end")
    assert (await client.delete(f"/ai/sessions/{sid}", headers=auth("alice"))).status_code == 204
    end = await events.next_event()
    assert end.type == "session_end" and end.data.reason == "deleted"
    assert (await client.delete(f"/ai/sessions/{sid}", headers=auth("alice"))).status_code == 204
    got = (await client.get(f"/ai/sessions/{sid}", headers=auth("alice"))).json()
    assert got["status"] == "ended"
    late = await client.post(
        f"/ai/sessions/{sid}/message", json={"content": "x"}, headers=auth("alice")
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "session_ended"


async def test_ops_endpoints(client: httpx.AsyncClient) -> None:
    health = await client.get("/ai/health")
    assert health.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    await create(client)
    stats = (await client.get("/ai/stats", headers=auth("alice"))).json()
    assert stats["sessions"] == 1 and stats["active_sessions"] == 1 and stats["messages"] == 0
    assert (await client.get("/ai/stats", headers=auth("bob"))).json()["sessions"] == 0
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "session_http_requests_total" in metrics.text
    by_route = 'session_http_requests_total{method="GET",route="/ai/stats",status="200"} 2.0'
    assert by_route in metrics.text  # counted by route template and status
    dev = await client.post("/ai/dev/token", json={"user_id": "carol"})
    assert dev.status_code == 200
    me = await client.get("/ai/stats", headers={"Authorization": f"Bearer {dev.json()['token']}"})
    assert me.json()["user_id"] == "carol"
    assert (await client.post("/ai/dev/token", json={})).status_code == 422
    spec = (await client.get("/openapi.json")).json()
    assert "/ai/sessions/{session_id}/message" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
