"""AGENTS: each agent type's instructions (the system message), tools and transfers, against
the fake OpenAI server (tests/worker/fake_model.py: the real wire format, every request
recorded)."""

import json
from collections.abc import AsyncIterator

import pytest

from tests.worker.fake_model import FakeModel, Reply, fake_model
from tests.worker.harness import Client, assert_seq, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

AGENTS = {
    "personal": {"instructions": "You are Ada, a personal assistant.", "tools": ["echo"]},
    "travel": {"instructions": "You are Tom. You plan trips.", "description": "trips"},
}


@pytest.fixture
async def model() -> AsyncIterator[FakeModel]:
    async with fake_model() as fake:
        yield fake


def agents_settings(broker_settings, model: FakeModel, agents=AGENTS):
    return worker_settings(
        broker_settings,
        MODEL_BACKEND="openai",
        OPENAI_BASE_URL=model.url,
        OPENAI_MODEL="tiny",
        AGENTS=json.dumps(agents),
    )


def offered(request: dict) -> set[str]:
    return {tool["function"]["name"] for tool in request["body"].get("tools", [])}


async def test_each_request_carries_its_agents_system_message(
    client: Client, broker_settings, model: FakeModel, tools
):
    model.replies = [Reply(text=["hi"]), Reply(text=["hello"])]
    device = await client.device()
    async with running_worker(agents_settings(broker_settings, model)):
        await device.run(await client.send(device, "one", agent_type="personal"))
        await device.run(await client.send(device, "two", agent_type="travel"))

    first, second = (request["body"]["messages"] for request in model.requests)
    assert first == [
        {"role": "system", "content": AGENTS["personal"]["instructions"]},
        {"role": "user", "content": "one"},
    ]
    assert second[0] == {"role": "system", "content": AGENTS["travel"]["instructions"]}
    # personal may use echo only, and transfer to travel; travel has every tool
    assert offered(model.requests[0]) == {"echo", "transfer_to_travel"}
    assert {"echo", "get_time", "transfer_to_personal"} <= offered(model.requests[1])
    assert "transfer_to_travel" not in offered(model.requests[1])


async def test_a_model_called_transfer_switches_agent_instructions_and_tools(
    client: Client, broker_settings, model: FakeModel, tools
):
    model.replies = [
        Reply(text=["Let me get Tom. "], calls=[("transfer_to_travel", {"reason": "a trip"})]),
        Reply(text=["Tom here: ", "Rome?"]),
    ]
    device = await client.device()
    async with running_worker(agents_settings(broker_settings, model)):
        events = await device.run(await client.send(device, "plan a trip", agent_type="personal"))

    assert_seq(events)
    kinds = [t for t in types(events) if t not in ("thinking", "token")]
    assert kinds == ["run_start", "agent_switch", "response", "run_end"]
    switch = next(e for e in events if e.type == "agent_switch")
    assert (switch.data.from_, switch.data.to, switch.data.reason) == (
        "personal",
        "travel",
        "a trip",
    )
    after = events[events.index(switch) + 1 :]
    assert {e.agent_type for e in after} == {"travel"}  # who answers from here on
    assert events[-2].data.content == "Let me get Tom. Tom here: Rome?"
    again = model.requests[1]["body"]["messages"]
    assert again[0] == {"role": "system", "content": AGENTS["travel"]["instructions"]}
    assert again[-2]["tool_calls"][0]["function"]["name"] == "transfer_to_travel"
    assert again[-1]["role"] == "tool" and "transferred to the travel agent" in again[-1]["content"]
    assert "get_time" in offered(model.requests[1]) and "transfer_to_travel" not in offered(
        model.requests[1]
    )


async def test_a_tool_the_agent_may_not_use_is_refused(
    client: Client, broker_settings, model: FakeModel, tools
):
    model.replies = [Reply(calls=[("get_time", {})]), Reply(text=["ok"])]
    device = await client.device()
    async with running_worker(agents_settings(broker_settings, model)):
        events = await device.run(await client.send(device, "time?", agent_type="personal"))

    result = next(e.data for e in events if e.type == "tool_result")
    assert result.error == "get_time is not one of the personal agent's tools"
    assert events[-1].data.status == "completed"


async def test_an_agent_type_agents_does_not_list_is_the_default_agent(
    client: Client, broker_settings, model: FakeModel, tools
):
    device = await client.device()
    async with running_worker(agents_settings(broker_settings, model)):
        await device.run(await client.send(device, "hi", agent_type="other"))

    body = model.requests[0]["body"]
    assert body["messages"] == [{"role": "user", "content": "hi"}]  # no instructions
    assert {"transfer_to_personal", "transfer_to_travel", "echo"} <= offered(model.requests[0])


def test_agents_from_a_file_and_clear_errors(broker_settings, tmp_path):
    path = tmp_path / "agents.json"
    path.write_text(json.dumps(AGENTS))
    settings = worker_settings(broker_settings, AGENTS=str(path))
    assert settings.agents["travel"].instructions == AGENTS["travel"]["instructions"]
    with pytest.raises(ValueError, match="cannot read the file"):
        worker_settings(broker_settings, AGENTS=str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="not a JSON object"):
        worker_settings(broker_settings, AGENTS="{not json")
    with pytest.raises(ValueError, match="no url"):
        worker_settings(broker_settings, AGENTS='{"r": {"backend": "agui"}}')
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        worker_settings(broker_settings, AGENTS='{"r": {"backend": "openai"}}')
    with pytest.raises(ValueError, match="extra"):
        worker_settings(broker_settings, AGENTS='{"r": {"prompt": "typo"}}')
