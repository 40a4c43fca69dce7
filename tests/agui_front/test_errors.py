"""`POST`/`GET /ai/sessions/{id}/agui` refuse what they cannot take as the rest of the API
does: the `{"error": {"code", "message"}}` envelope with a fitting status, before any event,
and nothing stored or sent (the session has no message afterwards)."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.agui_front.sse import run_input
from tests.reliability.helpers import bearer, token
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
async def stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    async with isolated_stack(postgres_admin_url, amqp_url, "aguierr") as running:
        yield running


async def new_session(stack: Stack, user: str) -> str:
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer(token(user))) as http:
        answer = await http.post("/ai/sessions", json={})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def refused(
    stack: Stack, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> tuple[int, dict[str, str], httpx.Headers]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=20) as http:
        answer = await http.request(method, path, headers=headers, **kwargs)
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    return answer.status_code, answer.json()["error"], answer.headers


async def assert_untouched(stack: Stack, user: str, sid: str) -> None:
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer(token(user))) as http:
        session = (await http.get(f"/ai/sessions/{sid}")).json()
    assert session["messages"] == [] and session["active_run"] is None, session


BAD_INPUTS = [
    ("not json", "body"),
    (json.dumps({"threadId": "x"}), "runId"),
    (json.dumps({**run_input("SID", "hi"), "messages": "hi"}), "messages"),
    (json.dumps(run_input("another-thread", "hi")), "threadId"),
    (json.dumps({**run_input("SID", "hi"), "messages": []}), "the last message"),
    (
        json.dumps({**run_input("SID", "x"), "messages": [{"id": "a", "role": "assistant"}]}),
        "the last message",
    ),
    (json.dumps(run_input("SID", "   ")), "no text"),
    (json.dumps(run_input("SID", "hi", on_busy="later")), "forwardedProps.on_busy"),
    (json.dumps(run_input("SID", "\u0000")), "body"),
]


@pytest.mark.parametrize(("body", "named"), BAD_INPUTS)
async def test_a_bad_run_agent_input_is_a_422_naming_the_field(
    stack: Stack, body: str, named: str
) -> None:
    sid = await new_session(stack, "agui-bad")
    headers = {**bearer(token("agui-bad")), "Content-Type": "application/json"}
    status, error, _ = await refused(
        stack, "POST", f"/ai/sessions/{sid}/agui", headers, content=body.replace("SID", sid)
    )
    assert (status, error["code"]) == (422, "validation_error"), error
    assert named in error["message"], error
    await assert_untouched(stack, "agui-bad", sid)


async def test_without_a_valid_token_it_is_401_and_nothing_is_sent(stack: Stack) -> None:
    sid = await new_session(stack, "agui-auth")
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        status, error, _ = await refused(
            stack, "POST", f"/ai/sessions/{sid}/agui", headers, json=run_input(sid, "hi")
        )
        assert (status, error["code"]) == (401, "unauthenticated"), error
        status, error, _ = await refused(stack, "GET", f"/ai/sessions/{sid}/agui", headers)
        assert status == 401, error
    await assert_untouched(stack, "agui-auth", sid)


async def test_another_user_s_session_is_404_like_one_that_does_not_exist(stack: Stack) -> None:
    sid = await new_session(stack, "agui-owner")
    mallory = bearer(token("agui-mallory"))
    for target in (sid, "no-such-session"):
        path = f"/ai/sessions/{target}/agui"
        body = run_input(target, "hi")
        status, error, _ = await refused(stack, "POST", path, mallory, json=body)
        assert (status, error["code"]) == (404, "session_not_found"), error
        status, error, _ = await refused(stack, "GET", path, mallory)
        assert (status, error["code"]) == (404, "session_not_found"), error
    await assert_untouched(stack, "agui-owner", sid)


async def test_a_bad_last_event_id_is_400_and_a_bad_client_id_422(stack: Stack) -> None:
    sid = await new_session(stack, "agui-ids")
    auth = bearer(token("agui-ids"))
    bad = (
        "garbage",
        "agui.R1.1.2.0.0.0.0",  # a v1 id (no stream position)
        "-~a.b.c.d.e.f.g.h.i",
        "-~dev.run.1.2",
        "-~d/x.run.1.2.0.0.0.0.0",
        "1.2.3~d.r.1.2.0.0.0.0.0",
        "0.12.0.tag!~d.r.1.2.0.0.0.0.0",
    )
    for value in bad:
        for method in ("GET", "POST"):
            status, error, _ = await refused(
                stack, method, f"/ai/sessions/{sid}/agui", {**auth, "Last-Event-ID": value}
            )
            assert (status, error["code"]) == (400, "invalid_cursor"), (value, error)
            assert "Last-Event-ID" in error["message"], error
    status, error, _ = await refused(
        stack,
        "POST",
        f"/ai/sessions/{sid}/agui",
        {**auth, "X-Client-Id": "no spaces"},
        json=run_input(sid, "hi"),
    )
    assert (status, error["code"]) == (422, "validation_error") and "X-Client-Id" in error[
        "message"
    ]
    await assert_untouched(stack, "agui-ids", sid)


async def test_a_body_beyond_the_message_limit_is_413_unread(stack: Stack) -> None:
    sid = await new_session(stack, "agui-big")
    huge = run_input(sid, "x" * 600_000)
    status, error, _ = await refused(
        stack, "POST", f"/ai/sessions/{sid}/agui", bearer(token("agui-big")), json=huge
    )
    assert (status, error["code"]) == (413, "body_too_large"), error
    await assert_untouched(stack, "agui-big", sid)


async def test_a_message_beyond_max_message_chars_is_refused_as_on_rest(stack: Stack) -> None:
    sid = await new_session(stack, "agui-long")
    long = run_input(sid, "x" * 32_001)
    status, error, _ = await refused(
        stack, "POST", f"/ai/sessions/{sid}/agui", bearer(token("agui-long")), json=long
    )
    assert status == 413 and error["code"] == "message_too_large", error
    await assert_untouched(stack, "agui-long", sid)


async def test_a_device_beyond_the_session_s_cap_is_429(stack: Stack) -> None:
    sid = await new_session(stack, "agui-caps")
    auth = bearer(token("agui-caps"))
    async with httpx.AsyncClient(base_url=stack.url, headers=auth) as http:
        for i in range(16):  # the session's creating device is "default": 17 would be one more
            answer = await http.post(f"/ai/sessions/{sid}/devices", json={"client_id": f"d{i}"})
            if answer.status_code == 429:
                break
    status, error, answer = await refused(
        stack, "GET", f"/ai/sessions/{sid}/agui", {**auth, "X-Client-Id": "one-more"}
    )
    assert (status, error["code"]) == (429, "too_many_devices"), error


async def test_an_ended_session_is_409_session_ended(stack: Stack) -> None:
    sid = await new_session(stack, "agui-ended")
    auth = bearer(token("agui-ended"))
    async with httpx.AsyncClient(base_url=stack.url, headers=auth) as http:
        assert (await http.delete(f"/ai/sessions/{sid}")).status_code == 204
    status, error, _ = await refused(
        stack, "POST", f"/ai/sessions/{sid}/agui", auth, json=run_input(sid, "hi")
    )
    assert (status, error["code"]) == (409, "session_ended"), error


async def test_a_run_beyond_the_user_s_active_runs_is_429_with_retry_after(stack: Stack) -> None:
    user = "agui-runs"
    auth = bearer(token(user))
    busy = [await new_session(stack, user) for _ in range(3)]  # MAX_ACTIVE_RUNS_PER_USER
    async with httpx.AsyncClient(base_url=stack.url, headers=auth, timeout=20) as http:
        for sid in busy:
            answer = await http.post(f"/ai/sessions/{sid}/message", json={"content": "/sleep 30"})
            assert answer.status_code == 202, answer.text
        sid = await new_session(stack, user)
        try:
            status, error, headers = await refused(
                stack, "POST", f"/ai/sessions/{sid}/agui", auth, json=run_input(sid, "hi")
            )
            assert (status, error["code"]) == (429, "too_many_runs"), error
            assert int(headers["retry-after"]) > 0
            await assert_untouched(stack, user, sid)
        finally:
            for other in busy:
                await http.post(f"/ai/sessions/{other}/cancel")
