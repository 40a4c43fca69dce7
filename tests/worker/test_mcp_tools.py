"""The tool worker as an MCP client, against the bundled example server as a real process:
over stdio (started by the tool worker) and over streamable HTTP (started here)."""

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator

import psutil
import pytest
from switchboard_events import new_id
from switchboard_orchestrator.tools.server import ToolServer
from switchboard_stack import free_port

from tests.worker.harness import (
    Client,
    running_tools,
    running_worker,
    tool_settings,
    worker_settings,
)

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

EXAMPLE = [sys.executable, "-m", "switchboard_orchestrator.mcp_example"]


def stdio_servers() -> str:
    return json.dumps([{"name": "example", "command": EXAMPLE[0], "args": EXAMPLE[1:]}])


async def call(server: ToolServer, name: str, **params) -> dict:
    body = {"call_id": new_id(), "tool_name": name, "parameters": params, "user_id": "u"}
    return await server.answer(json.dumps(body).encode())


async def listed(server: ToolServer) -> dict[str, str]:
    reply = await server.answer(json.dumps({"call_id": new_id(), "op": "list_tools"}).encode())
    return {tool["name"]: tool["source"] for tool in reply["result"]["tools"]}


def example_processes() -> list[psutil.Process]:
    """The example servers this test process started (children only, by command line)."""
    children = psutil.Process().children(recursive=True)
    return [p for p in children if "switchboard_orchestrator.mcp_example" in p.cmdline()]


async def until_answers(server: ToolServer, expected: dict, timeout: float = 30) -> dict:
    """Call calc until it answers `expected` (the server reconnects meanwhile)."""
    async with asyncio.timeout(timeout):
        while (reply := await call(server, "calc", expression="2+2")) != expected:
            await asyncio.sleep(0.2)
    return reply


async def test_stdio_server_tools_are_served_and_a_dead_server_is_reconnected(broker_settings):
    settings = tool_settings(broker_settings, MCP_SERVERS=stdio_servers())
    async with running_tools(settings) as server:
        tools = await listed(server)
        assert tools["calc"] == "example" and tools["calculate"] == "builtin"
        assert await call(server, "calc", expression="2+2") == {
            "result": {"expression": "2+2", "value": 4}
        }
        bad = await call(server, "calc", expression="2+")
        assert "not an arithmetic expression" in bad["error"]
        assert "bad parameters" in (await call(server, "calc"))["error"]  # checked locally

        [process] = example_processes()
        process.kill()
        process.wait(10)
        down = await call(server, "calc", expression="2+2")
        assert "MCP server example" in down["error"]  # a clear error, never a hang
        await until_answers(server, {"result": {"expression": "2+2", "value": 4}})
        [again] = example_processes()
        assert again.pid != process.pid
    assert example_processes() == []  # the tool worker stopped its server


async def test_each_user_sees_only_their_own_notes(client: Client, broker_settings):
    """Runs of two users, as the session service sends them: the identity of each run travels
    with its tool calls (the MCP request's `_meta`), and the example server keeps notes per user."""
    tools = tool_settings(broker_settings, MCP_SERVERS=stdio_servers())
    async with running_tools(tools), running_worker(worker_settings(broker_settings)):
        alice, bob = await client.device(), await client.device()
        added = await alice.run(await client.send(alice, "/tool add_note text=alice-only"))
        bobs = await bob.run(await client.send(bob, "/tool list_notes", user_id="bob"))
        alices = await alice.run(await client.send(alice, "/tool list_notes"))

    def result(events):
        [data] = [e.data for e in events if e.type == "tool_result"]
        assert data.error is None, data.error
        return data.result

    assert result(added) == {"notes": 1}
    assert result(bobs) == {"notes": []}
    assert result(alices) == {"notes": ["alice-only"]}


async def test_a_call_without_a_user_keeps_no_notes(broker_settings):
    settings = tool_settings(broker_settings, MCP_SERVERS=stdio_servers())
    async with running_tools(settings) as server:
        body = {"call_id": new_id(), "tool_name": "list_notes", "parameters": {}}
        reply = await server.answer(json.dumps(body).encode())
    assert "switchboard/user_id" in reply["error"]


@pytest.fixture
async def http_example() -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *EXAMPLE, "--http", str(port), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def test_streamable_http_server_tools_are_served(broker_settings, http_example):
    # MCP_RETRY_S stays at its default: the server may still be starting when we connect.
    servers = json.dumps([{"name": "remote", "url": http_example}])
    settings = tool_settings(broker_settings, MCP_SERVERS=servers)
    async with running_tools(settings) as server:
        await until_answers(server, {"result": {"expression": "2+2", "value": 4}})
        assert (await listed(server))["add_note"] == "remote"
        assert (await call(server, "add_note", text="milk"))["result"] == {"notes": 1}
        assert (await call(server, "list_notes"))["result"] == {"notes": ["milk"]}


def test_mcp_servers_setting_is_checked(broker_settings):
    with pytest.raises(ValueError, match="either `command` or `url`"):
        tool_settings(broker_settings, MCP_SERVERS='[{"name": "x"}]')


async def test_an_mcp_url_that_does_not_answer_is_named_at_start(broker_settings, caplog):
    url = f"http://127.0.0.1:{free_port()}/mcp"
    servers = json.dumps([{"name": "crm", "url": url}])
    settings = tool_settings(broker_settings, MCP_SERVERS=servers)
    with caplog.at_level(logging.WARNING):
        async with running_tools(settings) as server:
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert any(f"MCP server crm ({url}) did not connect" in w for w in warnings), warnings
            reply = await call(server, "list_notes")  # listed by nobody: the server never came
    assert "error" in reply
