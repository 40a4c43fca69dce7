"""MODEL_BACKEND=openai through the official SDK, against a local fake OpenAI-compatible
server (tests/worker/fake_model.py) that speaks the real chunk format and records requests."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from switchboard_stack import free_port

from tests.worker.fake_model import FakeModel, Reply, fake_model
from tests.worker.harness import Client, assert_seq, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

PIECES = ["Hel", "lo", " from", " the", " model"]


@pytest.fixture
async def model() -> AsyncIterator[FakeModel]:
    async with fake_model() as fake:
        yield fake


def openai_settings(broker_settings, model: FakeModel, **env):
    return worker_settings(
        broker_settings,
        MODEL_BACKEND="openai",
        OPENAI_BASE_URL=model.url,
        OPENAI_API_KEY="sk-test",
        OPENAI_MODEL="tiny",
        **env,
    )


async def test_tokens_usage_and_history_reach_the_model(
    client: Client, broker_settings, model, tools
):
    model.replies = [Reply(text=PIECES, usage=(11, 5))]
    device = await client.device()
    call = {"kind": "call", "call_id": "c1", "tool_name": "echo", "parameters": {"a": 1}}
    result = {"kind": "result", "call_id": "c1", "tool_name": "echo", "result": {"echo": 1}}
    history = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "content": "", "tool": call},
        {"role": "tool", "content": "", "tool": result},
        {"role": "assistant", "content": "hello"},
        {"role": "tool", "content": "", "tool": {**result, "call_id": "orphan"}},
    ]
    async with running_worker(openai_settings(broker_settings, model)):
        run = await client.send(device, "tell me", history=history, history_dropped=3)
        events = await device.run(run)

    expected = ["run_start", "thinking", "warning", *["token"] * 5, "response", "run_end"]
    assert types(events) == expected
    assert_seq(events)
    assert events[2].data.code == "history_truncated" and "3 oldest" in events[2].data.message
    assert [e.data.token for e in events if e.type == "token"] == PIECES
    assert events[-2].data.content == "Hello from the model"
    usage = events[-1].data.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 5, 16)
    request = model.requests[0]
    assert request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["stream"] is True and body["model"] == "tiny"
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "echo", "arguments": '{"a": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"echo": 1}'},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "tell me"},
    ]  # the orphan result is left out: the chat format refuses it
    assert len(model.requests) == 1


async def test_directives_are_plain_text_for_a_model(client: Client, broker_settings, model, tools):
    """With a model, `/tool`, `/sleep`, ... are what the user typed: sent to the model, never
    run (no user may call a tool the model did not ask for, with parameters of their own)."""
    model.replies = [Reply(text=["no"]), Reply(text=["no"])]
    device = await client.device()
    async with running_worker(openai_settings(broker_settings, model)):
        tool = await device.run(await client.send(device, '/tool echo secret="x"'))
        sleep = await device.run(await client.send(device, "/sleep 30"))

    for events in (tool, sleep):
        assert types(events) == ["run_start", "thinking", "token", "response", "run_end"]
        assert events[-1].data.status == "completed"
    sent = [request["body"]["messages"][-1] for request in model.requests]
    assert sent == [
        {"role": "user", "content": '/tool echo secret="x"'},
        {"role": "user", "content": "/sleep 30"},
    ]


async def test_directives_flag_scripts_them_with_a_model(
    client: Client, broker_settings, model, tools
):
    # DIRECTIVES=true locally: the development flag that scripts directives with a model too
    device = await client.device()
    async with running_worker(openai_settings(broker_settings, model, DIRECTIVES="true")):
        events = await device.run(await client.send(device, "/tool echo a=1"))

    assert types(events) == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    assert model.requests == []


async def test_parallel_tool_calls_run_and_their_results_go_back(
    client: Client, broker_settings, model, tools
):
    model.replies = [
        Reply(calls=[("calculate", {"expression": "2+3"}), ("echo", {"x": [1, 2]})]),
        Reply(text=["It is ", "5."]),
    ]
    device = await client.device()
    async with running_worker(openai_settings(broker_settings, model)):
        events = await device.run(await client.send(device, "what is 2+3?"))

    assert types(events) == [
        "run_start",
        "thinking",
        "tool_call",
        "tool_call",
        "tool_result",
        "tool_result",
        "token",
        "token",
        "response",
        "run_end",
    ]
    calls = [e.data for e in events if e.type == "tool_call"]
    assert [(c.tool_name, c.parameters) for c in calls] == [
        ("calculate", {"expression": "2+3"}),
        ("echo", {"x": [1, 2]}),
    ]
    results = {e.data.call_id: e.data.result for e in events if e.type == "tool_result"}
    assert results[calls[0].call_id] == {"expression": "2+3", "value": 5}
    assert events[-2].data.content == "It is 5."
    assert events[-1].data.usage.total_tokens == 24  # two turns of 7 + 5

    offered = {t["function"]["name"] for t in model.requests[0]["body"]["tools"]}
    assert {"calculate", "echo", "get_time"} <= offered
    second = model.requests[1]["body"]["messages"]
    assert second[-3]["role"] == "assistant"
    assert [c["id"] for c in second[-3]["tool_calls"]] == [c.call_id for c in calls]
    assert second[-2] == {
        "role": "tool",
        "tool_call_id": calls[0].call_id,
        "content": json.dumps({"expression": "2+3", "value": 5}),
    }
    assert json.loads(second[-1]["content"]) == {"echo": {"x": [1, 2]}}


async def test_tool_steps_are_capped(client: Client, broker_settings, model, tools):
    # MAX_TOOL_STEPS=1 locally: the model asks for tools every turn; the second turn must answer.
    model.replies = [Reply(calls=[("echo", {})]), Reply(calls=[("echo", {})], text=["done"])]
    device = await client.device()
    async with running_worker(openai_settings(broker_settings, model, MAX_TOOL_STEPS=1)):
        events = await device.run(await client.send(device, "loop"))

    assert types(events).count("tool_call") == 1
    assert [e.data.code for e in events if e.type == "warning"] == ["tool_steps_exhausted"]
    assert model.requests[1]["body"]["tool_choice"] == "none"
    assert events[-1].data.status == "completed"


async def test_rate_limits_are_retried_then_given_up(client: Client, broker_settings, model, tools):
    model.replies = [Reply(status=429, retry_after="0"), Reply(text=["fine"])]
    model.replies += [Reply(status=503, retry_after="0")] * 4
    device = await client.device()
    async with running_worker(openai_settings(broker_settings, model)):
        recovered = await device.run(await client.send(device, "one"))
        failed = await device.run(await client.send(device, "two"))

    assert types(recovered) == [
        "run_start",
        "thinking",
        "warning",
        "token",
        "response",
        "run_end",
    ]
    assert recovered[2].data.code == "model_retry" and "429" in recovered[2].data.message
    assert types(failed) == ["run_start", "thinking"] + ["warning"] * 3 + ["error", "run_end"]
    assert failed[-2].data.code == "model_error" and "503" in failed[-2].data.message
    assert failed[-1].data.status == "failed"
    assert len(model.requests) == 6


async def test_cancel_closes_the_model_stream(client: Client, broker_settings, model, tools):
    model.replies = [Reply(text=["first", "never"], hold=True)]
    device = await client.device()
    async with running_worker(openai_settings(broker_settings, model)):
        run_id = await client.send(device, "go on forever")
        seen = await device.until("token", run_id)
        await client.cancel(device, run_id)
        rest = await device.run(run_id)
        await asyncio.wait_for(model.closed.wait(), 10)  # the server saw the request go

    assert [e.data.token for e in seen if e.type == "token"] == ["first"]
    assert types(rest) == ["run_end"] and rest[0].data.status == "cancelled"


def test_openai_backend_needs_a_base_url(broker_settings):
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        worker_settings(broker_settings, MODEL_BACKEND="openai")


async def test_an_unreachable_model_server_is_named_at_start_and_in_the_run_error(
    client: Client, broker_settings, tools, caplog
):
    url = f"http://127.0.0.1:{free_port()}/v1"
    # No retries: the run's error comes at once instead of after 1 + 2 + 4 s of backoff.
    settings = worker_settings(
        broker_settings, MODEL_BACKEND="openai", OPENAI_BASE_URL=url, MODEL_MAX_RETRIES=0
    )
    device = await client.device()
    with caplog.at_level(logging.WARNING):
        async with running_worker(settings):
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert any(f"OPENAI_BASE_URL={url}" in w for w in warnings), warnings
            events = await device.run(await client.send(device, "hello"))
    error = next(e for e in events if e.type == "error")
    assert error.data.code == "model_error"
    assert url in error.data.message and "unreachable" in error.data.message
    assert events[-1].data.status == "failed"


async def test_a_reachable_model_server_gets_no_start_up_warning(broker_settings, model, caplog):
    with caplog.at_level(logging.WARNING):
        async with running_worker(openai_settings(broker_settings, model)):
            pass
    assert not [r for r in caplog.records if "OPENAI_BASE_URL" in r.getMessage()]
