"""Issue 15's whole run: the model (the fake OpenAI server, real chunk format) calls an MCP tool,
then a built-in tool that needs approval, approved from a second device, then answers. Both
devices see the same ordered stream, and the history holds all of it."""

import json
import sys

import httpx
import pytest
from switchboard_client import ApiError, SwitchboardClient

from tests.catchup.device import Device, dev_token
from tests.conftest import wait_until
from tests.stack import running_stack, stack_installed
from tests.worker.fake_model import Reply, fake_model

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]


async def test_mcp_tool_then_an_approved_builtin_then_the_answer(
    database_url, broker_settings
) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    example = {"name": "example", "command": sys.executable}
    example["args"] = ["-m", "switchboard_orchestrator.mcp_example"]  # type: ignore[assignment]
    async with fake_model() as model:
        model.replies = [
            Reply(calls=[("calc", {"expression": "6*7"})]),
            Reply(calls=[("echo", {"text": "send it"})]),
            Reply(text=["Sent, ", "and 6*7 is 42."]),
        ]
        env = {
            "MODEL_BACKEND": "openai",
            "OPENAI_BASE_URL": model.url,
            "MCP_SERVERS": json.dumps([example]),
            "APPROVAL_REQUIRED_TOOLS": "echo",  # what this test is about: echo needs a human
        }
        async with running_stack(database_url, broker_settings, env) as stack:
            token = await dev_token(stack.url, "zoe")
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=stack.url, headers=auth) as http:
                body = {"client_id": "laptop"}
                sid = (await http.post("/ai/sessions", json=body)).json()["id"]
                laptop, phone = (
                    Device(stack.url, sid, "laptop", token),
                    Device(stack.url, sid, "phone", token),
                )
                await laptop.connect()
                await phone.connect()
                answer = await http.post(f"/ai/sessions/{sid}/message", json={"content": "go"})
                run_id = answer.json()["run_id"]
                seen_phone = await _until_approval_asked(phone)
                call_id = seen_phone[-1]["data"]["call_id"]
                assert phone.ws is not None
                decision = {"type": "tool_decision", "call_id": call_id, "approve": True}
                await phone.ws.send(json.dumps(decision))
                seen_phone += await _until_run_end(phone)
                seen_laptop = await _until_run_end(laptop)
                history: list[dict] = []  # type: ignore[type-arg]

                async def stored() -> bool:  # the answer is stored a moment after run_end
                    history[:] = (await http.get(f"/ai/sessions/{sid}")).json()["messages"]
                    return bool(history) and history[-1]["role"] == "assistant"

                await wait_until(stored)
            await laptop.close()
            await phone.close()

    run = [e for e in seen_laptop if e.get("run_id") == run_id]
    assert [_key(e) for e in run] == [_key(e) for e in seen_phone if e.get("run_id") == run_id]
    assert [e["seq"] for e in run] == list(range(1, len(run) + 1))
    kinds = [e["type"] for e in run if e["type"] not in ("thinking", "token", "waiting")]
    assert kinds == [
        "run_start",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "response",
        "run_end",
    ]
    calls = [e["data"] for e in run if e["type"] == "tool_call"]
    assert [c["tool_name"] for c in calls] == ["calc", "echo"]
    assert calls[1]["requires_approval"] is True and "requires_approval" not in calls[0]
    results = [e["data"] for e in run if e["type"] == "tool_result"]
    assert results[0]["result"] == {"expression": "6*7", "value": 42}
    assert results[1]["result"] == {"echo": {"text": "send it"}}
    text = "".join(e["data"]["token"] for e in run if e["type"] == "token")
    assert text == "Sent, and 6*7 is 42."
    tools = [m["tool"]["tool_name"] for m in history if m["role"] == "tool"]
    assert tools == ["calc", "calc", "echo", "echo"]  # each call and its result, in order
    assert history[-1]["role"] == "assistant" and history[-1]["content"] == text


def _key(event: dict) -> tuple:  # type: ignore[type-arg]
    return event["id"], event["type"], event.get("seq")


async def _until_approval_asked(device: Device) -> list[dict]:  # type: ignore[type-arg]
    seen = []
    while True:
        event = await device.next_event()
        seen.append(event)
        if event["type"] == "tool_call" and event["data"].get("requires_approval"):
            return seen


async def _until_run_end(device: Device) -> list[dict]:  # type: ignore[type-arg]
    seen = []
    while not seen or seen[-1]["type"] != "run_end":
        seen.append(await device.next_event())
    await device.ack()
    return seen


async def test_an_mcp_server_marked_requires_approval_waits_for_a_decision(
    database_url, broker_settings
) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    example = {"name": "example", "command": sys.executable, "requires_approval": True}
    example["args"] = ["-m", "switchboard_orchestrator.mcp_example"]  # type: ignore[assignment]
    async with fake_model() as model:
        model.replies = [Reply(calls=[("calc", {"expression": "1+1"})]), Reply(text=["No."])]
        env = {
            "MODEL_BACKEND": "openai",
            "OPENAI_BASE_URL": model.url,
            "MCP_SERVERS": json.dumps([example]),
        }
        async with running_stack(database_url, broker_settings, env) as stack:
            token = await dev_token(stack.url, "yan")
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=stack.url, headers=auth) as http:
                sid = (await http.post("/ai/sessions", json={"client_id": "tab"})).json()["id"]
                tab = Device(stack.url, sid, "tab", token)
                await tab.connect()
                await http.post(f"/ai/sessions/{sid}/message", json={"content": "1+1?"})
                asked = (await _until_approval_asked(tab))[-1]["data"]
                assert asked["tool_name"] == "calc"
                async with SwitchboardClient(stack.url, token) as sdk:  # the SDK's twin
                    await sdk.decide_tool(sid, asked["call_id"], approve=False, reason="no")
                    with pytest.raises(ApiError) as again:
                        await sdk.decide_tool(sid, asked["call_id"], approve=True)
                assert again.value.code == "already_decided"
                run = await _until_run_end(tab)
            await tab.close()
    result = next(e["data"] for e in run if e["type"] == "tool_result")
    assert result["error"] == "denied" and result["reason"] == "no"
    sent = model.requests[1]["body"]["messages"][-1]
    assert sent["role"] == "tool" and "denied" in sent["content"]  # the model is told
