"""Human approval of tool calls against the real stack: `/approve`, the `tool_decision` frame
and its REST twin, decided once, timed out, cancelled, and never by another user."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.approval.conftest import SHORT_TIMEOUT_S
from tests.approval.device import WAIT_S, Device, bearer, new_session, types
from tests.catchup.device import dev_token
from tests.stack import Stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e, pytest.mark.timeout(90)]
APPROVED = ["run_start", "tool_call", "tool_result", "response", "run_end"]


@asynccontextmanager
async def two_devices(
    stack: Stack, user: str = "alice"
) -> AsyncIterator[tuple[Device, Device, httpx.AsyncClient]]:
    """A session of `user` with a phone and a laptop connected, and an HTTP client as `user`."""
    token, sid = await new_session(stack.url, user)
    phone, laptop = Device(stack.url, sid, "phone", token), Device(stack.url, sid, "laptop", token)
    await phone.connect()
    await laptop.connect()
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer(token)) as http:
        try:
            yield phone, laptop, http
        finally:
            await phone.close()
            await laptop.close()
            await http.delete(f"/ai/sessions/{sid}")


async def ask(http: httpx.AsyncClient, device: Device, content: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    """Send `content`; (run id, the run's `tool_call` as `device` saw it)."""
    sid = device.url.split("/ai/ws/")[1].split("?")[0]
    answer = await http.post(f"/ai/sessions/{sid}/message", json={"content": content})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]
    return run_id, await device.until("tool_call", run_id)


def session_of(device: Device) -> str:
    return device.url.split("/ai/ws/")[1].split("?")[0]


async def test_approved_from_a_second_device_runs_the_tool_on_every_device(stack: Stack) -> None:
    async with two_devices(stack) as (phone, laptop, http):
        run_id, call = await ask(http, phone, "/approve calculate expression=6*7")
        data = call["data"]
        assert data["requires_approval"] is True and data["approval_expires_at"], data
        seen = await laptop.until("tool_call", run_id)
        assert seen["data"]["call_id"] == data["call_id"]
        decision = {"type": "tool_decision", "call_id": data["call_id"], "approve": True}
        await laptop.send(decision)
        accepted = await laptop.until("tool_decision_accepted")
        assert accepted == {**accepted, "call_id": data["call_id"], "status": "approved"}
        for device in (phone, laptop):
            await device.until("run_end", run_id)
            events = device.run_events(run_id)
            assert types(events) == APPROVED, types(events)
            assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
            result = events[2]["data"]
            assert result["error"] is None and result["result"] is not None, result
            assert events[4]["data"]["status"] == "completed"
        # a later decision, from another device, counts for nothing
        await phone.send({**decision, "approve": False})
        error = await phone.until("error")
        assert error["code"] == "already_decided", error
        again = await http.post(
            f"/ai/sessions/{session_of(phone)}/tool_decisions",
            json={"call_id": data["call_id"], "approve": False},
        )
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"
        messages = await _history(http, session_of(phone))
        tools = [m["tool"] for m in messages if m["role"] == "tool"]
        assert [t["kind"] for t in tools] == ["call", "result"]
        assert tools[0]["requires_approval"] is True and tools[1]["error"] is None
        assert (
            messages[-1]["role"] == "assistant"
            and "calculate tool returned" in messages[-1]["content"]
        )


async def test_denied_over_rest_is_the_tool_result_and_the_answer(stack: Stack) -> None:
    async with two_devices(stack) as (phone, laptop, http):
        run_id, call = await ask(http, phone, "/approve get_time timezone=UTC")
        body = {"call_id": call["data"]["call_id"], "approve": False, "reason": "not now"}
        answer = await http.post(
            f"/ai/sessions/{session_of(phone)}/tool_decisions",
            json=body,
            headers={"X-Client-Id": "laptop"},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"call_id": body["call_id"], "approve": False, "status": "denied"}
        await laptop.until("run_end", run_id)
        events = laptop.run_events(run_id)
        assert types(events) == APPROVED
        result = events[2]["data"]
        assert result["error"] == "denied" and result["reason"] == "not now", result
        assert (
            "not run" in events[3]["data"]["content"] and "not now" in events[3]["data"]["content"]
        )
        messages = await _history(http, session_of(phone))
        assert [m["tool"]["error"] for m in messages if m["role"] == "tool"] == [None, "denied"]


async def test_another_users_decision_is_404_and_changes_nothing(stack: Stack) -> None:
    async with two_devices(stack) as (phone, laptop, http):
        run_id, call = await ask(http, phone, "/approve get_time")
        mallory = await dev_token(stack.url, "mallory")
        body = {"call_id": call["data"]["call_id"], "approve": True}
        path = f"/ai/sessions/{session_of(phone)}/tool_decisions"
        answer = await http.post(path, json=body, headers=bearer(mallory))
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "session_not_found"
        unknown = await http.post(path, json={"call_id": "nosuchcall", "approve": True})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_call"
        await laptop.send({"type": "tool_decision", "call_id": "x", "approve": "yes"})
        assert (await laptop.until("error"))["code"] == "missing_field"
        # the call still waits: its owner decides it
        assert (await http.post(path, json=body)).status_code == 202
        await phone.until("run_end", run_id)
        assert phone.run_events(run_id)[2]["data"]["error"] is None


async def test_cancelling_a_run_that_waits_ends_it(stack: Stack) -> None:
    async with two_devices(stack) as (phone, laptop, http):
        run_id, call = await ask(http, phone, "/approve get_time")
        sid = session_of(phone)
        await laptop.send({"type": "cancel"})
        end = await phone.until("run_end", run_id)
        assert end["data"]["status"] == "cancelled"
        assert types(phone.run_events(run_id)) == ["run_start", "tool_call", "run_end"]
        late = await _decide_late(http, sid, call["data"]["call_id"])
        assert late.status_code == 409, late.text
        assert late.json()["error"]["code"] == "already_decided", late.text
        follow = await http.post(f"/ai/sessions/{sid}/message", json={"content": "/tokens 2"})
        assert follow.status_code == 202, follow.text


async def test_undecided_calls_time_out(short_stack: Stack) -> None:
    async with two_devices(short_stack) as (phone, _laptop, http):
        run_id, call = await ask(http, phone, "/approve get_time")
        await phone.until("run_end", run_id)
        events = phone.run_events(run_id)
        assert types(events) == APPROVED
        result = events[2]["data"]
        assert result["error"] == "approval_timeout", result
        assert f"{SHORT_TIMEOUT_S} s" in result["reason"]
        late = await _decide_late(http, session_of(phone), call["data"]["call_id"])
        assert late.status_code == 409 and late.json()["error"]["code"] == "already_decided"


async def test_a_tool_marked_in_settings_always_waits(short_stack: Stack) -> None:
    async with two_devices(short_stack) as (phone, laptop, http):
        run_id, call = await ask(http, phone, "/tool echo text=hi")
        assert call["data"]["requires_approval"] is True
        await laptop.send(
            {"type": "tool_decision", "call_id": call["data"]["call_id"], "approve": True}
        )
        await phone.until("run_end", run_id)
        result = phone.run_events(run_id)[2]
        assert result["type"] == "tool_result" and result["data"]["error"] is None, result


async def _decide_late(http: httpx.AsyncClient, sid: str, call_id: str) -> httpx.Response:
    """A decision once the session service has stored the run's end (it may lag the devices
    by a moment; waited on, not slept)."""
    await _history(http, sid)
    return await http.post(
        f"/ai/sessions/{sid}/tool_decisions", json={"call_id": call_id, "approve": True}
    )


async def _history(http: httpx.AsyncClient, sid: str) -> list[dict]:  # type: ignore[type-arg]
    """The conversation once the run's `run_end` is stored (no active run)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            session = (await http.get(f"/ai/sessions/{sid}")).json()
            if session["active_run"] is None:
                return list(session["messages"])
            await asyncio.sleep(0.05)
