"""MODEL_BACKEND=agui against a real AG-UI agent (Pydantic AI served by its AG-UI adapter, a
scripted FunctionModel): its text, its own tools, Switchboard's tools as frontend tools, an
approval it asks for (a deferred tool: an interrupt), cancel, and the ways it can fail."""

import asyncio
import json

import aio_pika
import pytest
from switchboard_stack import free_port

from tests.agui.agent_server import AgentServer
from tests.worker.harness import Client, Device, assert_seq, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def agui_settings(broker_settings, url: str, **env):
    return worker_settings(broker_settings, MODEL_BACKEND="agui", AGUI_URL=url, **env)


async def test_text_streams_as_tokens_and_the_input_names_session_and_run(
    client: Client, broker_settings, agent: AgentServer, tools
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        run_id = await client.send(device, "hello agent")
        events = await device.run(run_id)

    assert types(events) == ["run_start", "thinking", "token", "token", "response", "run_end"]
    assert_seq(events)
    assert [e.data.token for e in events if e.type == "token"] == ["Hello", " there"]
    assert events[-2].data.content == "Hello there"
    assert events[-1].data.status == "completed"
    sent = agent.inputs[0]
    assert (sent["threadId"], sent["runId"]) == (device.session_id, run_id)
    assert sent["messages"] == [{"id": "m0", "role": "user", "content": "hello agent"}]
    offered = {tool["name"] for tool in sent["tools"]}
    assert {"echo", "get_time"} <= offered  # the tool workers' built-ins, as frontend tools


async def test_history_goes_to_the_agent_with_tool_calls_and_results(
    client: Client, broker_settings, agent: AgentServer, tools
):
    call = {"kind": "call", "call_id": "c1", "tool_name": "echo", "parameters": {"a": 1}}
    result = {"kind": "result", "call_id": "c1", "tool_name": "echo", "result": {"echo": 1}}
    history = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "content": "", "tool": call},
        {"role": "tool", "content": "", "tool": result},
        {"role": "assistant", "content": "hello"},
    ]
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        await device.run(await client.send(device, "hello again", history=history))

    assert agent.inputs[0]["messages"] == [
        {"id": "m0", "role": "user", "content": "hi"},
        {
            "id": "m1",
            "role": "assistant",
            "toolCalls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "echo", "arguments": '{"a": 1}'},
                }
            ],
        },
        {"id": "m2", "role": "tool", "content": '{"echo": 1}', "toolCallId": "c1"},
        {"id": "m3", "role": "assistant", "content": "hello"},
        {"id": "m4", "role": "user", "content": "hello again"},
    ]


async def test_the_agents_own_tool_is_published_with_its_result(
    client: Client, broker_settings, agent: AgentServer, tools
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        events = await device.run(await client.send(device, "weather please"))

    kinds = [t for t in types(events) if t not in ("thinking", "token")]
    assert kinds == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    call, result = events[2].data, events[3].data
    assert (call.call_id, call.tool_name, call.parameters) == ("fc-1", "forecast", {"city": "Oslo"})
    assert (result.call_id, result.result) == ("fc-1", "sunny in Oslo")
    assert events[-2].data.content == "The forecast tool said: sunny in Oslo"
    assert len(agent.inputs) == 1


async def test_the_agents_shared_state_becomes_state_events(
    client: Client, broker_settings, agent: AgentServer, tools
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        events = await device.run(await client.send(device, "plan a trip"))

    kinds = [t for t in types(events) if t not in ("thinking", "token")]
    assert kinds == [
        "run_start",
        "tool_call",
        "tool_result",
        "state",
        "state",
        "response",
        "run_end",
    ]
    snapshot, delta = (e.data for e in events if e.type == "state")
    assert snapshot.snapshot == {"city": "Rome", "steps": []} and snapshot.delta is None
    assert delta.delta == [{"op": "add", "path": "/steps/-", "value": "book"}]


async def test_a_switchboard_tool_runs_here_and_its_result_goes_back_in_the_next_input(
    client: Client, broker_settings, agent: AgentServer, tools
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        events = await device.run(await client.send(device, "echo this"))

    kinds = [t for t in types(events) if t not in ("thinking", "token")]
    assert kinds == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    result = next(e.data for e in events if e.type == "tool_result")
    echoed = {"echo": {"text": "ping"}}
    assert (result.call_id, result.tool_name, result.result) == ("ec-1", "echo", echoed)
    assert len(agent.inputs) == 2
    again = agent.inputs[1]["messages"]
    assert again[-2]["toolCalls"][0]["id"] == "ec-1"
    assert again[-1] == {
        "id": "m2",
        "role": "tool",
        "content": json.dumps(echoed),
        "toolCallId": "ec-1",
    }
    assert "ping" in events[-2].data.content


async def _decide(client: Client, device: Device, run_id: str, call_id: str, approve: bool):
    """What the session service does with a device's `tool_decision`."""
    exchange = await client.channel.get_exchange(client.names.control_exchange)
    body = {"call_id": call_id, "session_id": device.session_id, "run_id": run_id}
    body |= {"approve": approve, "reason": None if approve else "not that file"}
    message = aio_pika.Message(json.dumps(body).encode())
    await exchange.publish(message, client.names.approval_key(call_id))


@pytest.mark.parametrize("approve", [True, False])
async def test_an_interrupt_asks_for_approval_and_the_decision_resumes_the_agent(
    client: Client, broker_settings, agent: AgentServer, tools, approve: bool
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        run_id = await client.send(device, "delete the file")
        asked = (await device.until("tool_call", run_id))[-1]
        assert asked.data.requires_approval and asked.data.approval_expires_at is not None
        assert (asked.data.tool_name, asked.data.parameters) == ("delete_file", {"path": "/tmp/x"})
        await _decide(client, device, run_id, asked.data.call_id, approve)
        events = await device.run(run_id)

    kinds = [t for t in types(events) if t not in ("thinking", "token")]
    assert kinds == ["tool_result", "response", "run_end"]
    result = events[0].data
    assert result.call_id == "del-1"
    resumed = agent.inputs[1]
    assert resumed["resume"][0]["interruptId"] == "int-del-1"
    assert resumed["resume"][0]["payload"]["approved"] is approve
    assert resumed["messages"][-1]["toolCalls"][0]["id"] == "del-1"
    if approve:
        assert result.result == "deleted /tmp/x" and agent.deleted == ["/tmp/x"]
    else:
        assert (result.error, result.reason) == ("denied", "not that file")
        assert agent.deleted == []
    assert events[-1].data.status == "completed"


async def test_cancel_closes_the_agents_stream(
    client: Client, broker_settings, agent: AgentServer, tools
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        run_id = await client.send(device, "hang on")
        seen = await device.until("token", run_id)
        await client.cancel(device, run_id)
        rest = await device.run(run_id)
        await asyncio.wait_for(agent.closed.wait(), 10)  # the agent saw the request go

    assert [e.data.token for e in seen if e.type == "token"] == ["Working"]
    assert types(rest) == ["run_end"] and rest[0].data.status == "cancelled"


async def test_run_error_fails_the_run_naming_the_agent(
    client: Client, broker_settings, agent: AgentServer, tools
):
    device = await client.device()
    async with running_worker(agui_settings(broker_settings, agent.url)):
        events = await device.run(await client.send(device, "fail now"))

    assert types(events)[-2:] == ["error", "run_end"]
    error = events[-2].data
    assert error.code == "agent_error"
    assert agent.url in error.message and "the model broke down" in error.message
    assert events[-1].data.status == "failed"


async def test_an_unreachable_agent_or_an_http_error_fails_the_run_naming_the_url(
    client: Client, broker_settings, agent: AgentServer, tools
):
    gone = f"http://127.0.0.1:{free_port()}/agent"
    missing = agent.url.replace("/agent", "/nowhere")
    device = await client.device()
    for url, words in [(gone, "unreachable"), (missing, "answered 404")]:
        async with running_worker(agui_settings(broker_settings, url)):
            events = await device.run(await client.send(device, "hello"))
        error = events[-2].data
        assert (error.code, events[-1].data.status) == ("agent_error", "failed")
        assert url in error.message and words in error.message, error.message


def test_agui_needs_its_url(broker_settings):
    with pytest.raises(ValueError, match="AGUI_URL"):
        worker_settings(broker_settings, MODEL_BACKEND="agui")


async def test_an_agents_entry_puts_one_agent_type_on_the_agui_agent(
    client: Client, broker_settings, agent: AgentServer, tools
):
    research = {"backend": "agui", "url": agent.url, "instructions": "Be brief."}
    env = {"AGENTS": json.dumps({"research": research})}  # MODEL_BACKEND stays the stub
    device = await client.device()
    async with running_worker(worker_settings(broker_settings, **env)):
        by_agent = await device.run(await client.send(device, "hello", agent_type="research"))
        by_stub = await device.run(await client.send(device, "hello", agent_type="personal"))

    assert by_agent[-2].data.content == "Hello there"
    assert "personal agent" in by_stub[-2].data.content  # the stub's scripted reply
    assert len(agent.inputs) == 1
    assert agent.inputs[0]["messages"][0] == {
        "id": "system",
        "role": "system",
        "content": "Be brief.",
    }
