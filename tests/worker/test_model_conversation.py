"""A conversation through the SDK, every service its own process, MODEL_BACKEND=openai
against the fake model server, and the example MCP server behind the tool worker: the third
request to the model holds the first two turns, tool call and result included."""

import asyncio
import contextlib
import json
import sys

import pytest
from switchboard_client import Busy, SwitchboardClient

from tests.stack import running_stack, stack_installed
from tests.worker.fake_model import Reply, fake_model

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]


async def send(client: SwitchboardClient, sid: str, content: str) -> None:
    """Send once the previous run has been closed server-side (409 until then)."""
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(Busy):
                await client.send_message(sid, content)
                return
            await asyncio.sleep(0.1)


async def test_the_model_receives_the_conversation(database_url, broker_settings) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    example = {"name": "example", "command": sys.executable}
    example["args"] = ["-m", "switchboard_orchestrator.mcp_example"]  # type: ignore[assignment]
    async with fake_model() as model:
        model.replies = [
            Reply(text=["Hi ", "Ann."]),
            Reply(calls=[("calc", {"expression": "6*7"})]),
            Reply(text=["42."]),
            Reply(text=["You asked 6*7."]),
        ]
        env = {
            "MODEL_BACKEND": "openai",
            "OPENAI_BASE_URL": model.url,
            "MCP_SERVERS": json.dumps([example]),
        }
        async with running_stack(database_url, broker_settings, env) as stack:
            token = await SwitchboardClient.dev_token("ann", stack.url)
            async with SwitchboardClient(stack.url, token) as client:
                sid = (await client.create_session())["id"]
                for content in ("I am Ann", "what is 6*7?", "what did I ask?"):
                    await send(client, sid, content)
                async with asyncio.timeout(30):
                    while True:
                        model.received.clear()
                        if len(model.requests) >= 4:
                            break
                        await model.received.wait()

    third = model.requests[3]["body"]["messages"]
    roles = ["user", "assistant", "user", "assistant", "tool", "assistant", "user"]
    assert [m["role"] for m in third] == roles
    assert third[0]["content"] == "I am Ann" and third[1]["content"] == "Hi Ann."
    assert third[2]["content"] == "what is 6*7?"
    call = third[3]["tool_calls"][0]
    assert call["function"] == {"name": "calc", "arguments": json.dumps({"expression": "6*7"})}
    assert third[4]["tool_call_id"] == call["id"]
    assert json.loads(third[4]["content"]) == {"expression": "6*7", "value": 42}
    assert third[5]["content"] == "42." and third[6]["content"] == "what did I ask?"
    offered = {tool["function"]["name"] for tool in model.requests[0]["body"]["tools"]}
    assert {"calc", "add_note", "calculate"} <= offered  # MCP tools next to the built-ins
