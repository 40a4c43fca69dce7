"""Tool calls end to end: run worker -> tool worker over RPC -> tool_result -> response."""

import pytest

from tests.worker.harness import Client, assert_seq, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(30)]


async def test_tool_success(client: Client, worker, tools):
    device = await client.device()
    events = await device.run(await client.send(device, "/tool calculate expression=2+3*4"))

    assert types(events) == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    assert_seq(events)
    call, result = events[1].data, events[2].data
    assert (call.tool_name, call.parameters) == ("calculate", {"expression": "2+3*4"})
    assert result.call_id == call.call_id and result.error is None
    assert result.result == {"expression": "2+3*4", "value": 14}
    assert "14" in events[3].data.content
    assert events[-1].data.status == "completed"


async def test_key_value_parameters_are_json_when_they_parse(client: Client, worker, tools):
    device = await client.device()
    content = '/tool echo n=3 ok=true name=Ada list=[1,2] phrase="two words"'
    events = await device.run(await client.send(device, content))

    expected = {"n": 3, "ok": True, "name": "Ada", "list": [1, 2], "phrase": "two words"}
    assert events[1].data.parameters == expected
    assert events[2].data.result == {"echo": expected}


@pytest.mark.parametrize(
    ("content", "error_part"),
    [
        ("/tool calculate expr=1", "bad parameters for calculate"),
        ("/tool calculate expression=__import__('os')", "only numbers"),
        ("/tool create_family members=[1]", "bad parameters for create_family"),
        ("/tool get_time timezone=Mars/Olympus", "unknown timezone"),
        ("/tool no_such_tool x=1", "unknown tool 'no_such_tool'"),
    ],
)
async def test_tool_errors_become_a_tool_result_error_and_a_response(
    client: Client, worker, tools, content, error_part
):
    device = await client.device()
    events = await device.run(await client.send(device, content))

    assert types(events) == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    result = events[2].data
    assert result.result is None and error_part in result.error
    assert "failed" in events[3].data.content
    assert events[-1].data.status == "completed"


async def test_create_family_and_get_time(client: Client, worker, tools):
    device = await client.device()
    family = await device.run(
        await client.send(device, '/tool create_family name=Smiths members=["Ann","Bo"]')
    )
    clock = await device.run(await client.send(device, "/tool get_time timezone=Europe/Paris"))

    assert family[2].data.result["members"] == ["Ann", "Bo"]
    assert family[2].data.result["family_id"].startswith("fam_")
    assert clock[2].data.result["timezone"] == "Europe/Paris"
    assert clock[2].data.result["iso"][-6:] in ("+01:00", "+02:00")


async def test_tool_timeout_still_answers(client: Client, broker_settings, tools):
    device = await client.device()
    async with running_worker(worker_settings(broker_settings, TOOL_TIMEOUT_S=0.3)):
        events = await device.run(await client.send(device, "/tool slow seconds=3"))

    assert types(events) == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    assert events[2].data.error == "timeout"
    assert "timeout" in events[3].data.content
    assert events[-1].data.status == "completed"
