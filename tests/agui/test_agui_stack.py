"""Issue 26's agent side, whole: a session whose agent is a Pydantic AI AG-UI server (its AG-UI
adapter, a scripted FunctionModel) behind the real stack. Its text and its tool calls and
results reach every device; the third turn's RunAgentInput carries the first two turns; an
approval the agent asks for is decided from a second device and the agent resumes."""

import asyncio
import json

import httpx
import pytest

from tests.agui.agent_server import AgentServer, agent_server
from tests.catchup.device import Device, dev_token
from tests.conftest import wait_until
from tests.stack import running_stack, stack_installed

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

Event = dict  # type: ignore[type-arg]


async def test_three_turns_and_an_approval_from_a_second_device(
    database_url, broker_settings
) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    async with agent_server() as agent:
        env = {"MODEL_BACKEND": "agui", "AGUI_URL": agent.url}
        async with running_stack(database_url, broker_settings, env) as stack:
            token = await dev_token(stack.url, "ivy")
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=stack.url, headers=auth) as http:
                sid = (await http.post("/ai/sessions", json={"client_id": "laptop"})).json()["id"]
                laptop = Device(stack.url, sid, "laptop", token)
                phone = Device(stack.url, sid, "phone", token)
                await laptop.connect()
                await phone.connect()
                turns = _Turns(http, sid, laptop, phone)
                first = await turns.run("hello agent")
                second = await turns.run("weather please")
                third = await turns.run("delete the file", approve_on=phone)
            await laptop.close()
            await phone.close()

    assert _text(first) == "Hello there"
    calls = [e["data"] for e in second if e["type"] in ("tool_call", "tool_result")]
    assert [(c["call_id"], c["tool_name"]) for c in calls] == [("fc-1", "forecast")] * 2
    assert calls[1]["result"] == "sunny in Oslo"
    assert _text(second) == "The forecast tool said: sunny in Oslo"
    kinds = [e["type"] for e in third if e["type"] not in ("thinking", "token")]
    assert kinds == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    asked, done = (e["data"] for e in third if e["type"] in ("tool_call", "tool_result"))
    assert asked["requires_approval"] is True and asked["tool_name"] == "delete_file"
    assert done["result"] == "deleted /tmp/x" and agent.deleted == ["/tmp/x"]
    assert _third_input_carries_the_first_two_turns(agent, sid)


class _Turns:
    """Sends a message, reads its run on both devices (the same events, in the same order)
    and waits until its answer is stored, so the next message finds the session idle."""

    def __init__(self, http: httpx.AsyncClient, sid: str, *devices: Device) -> None:
        self.http, self.sid, self.devices = http, sid, devices
        self.answers = 0

    async def run(self, content: str, approve_on: Device | None = None) -> list[Event]:
        sent = await self.http.post(f"/ai/sessions/{self.sid}/message", json={"content": content})
        assert sent.status_code == 202, sent.text
        run_id = sent.json()["run_id"]
        seen = await asyncio.gather(
            *(_run_events(device, run_id, device is approve_on) for device in self.devices)
        )
        runs = [[(e["id"], e["type"], e["seq"]) for e in events] for events in seen]
        assert all(run == runs[0] for run in runs), "the devices saw different runs"
        self.answers += 1
        await wait_until(self._stored, timeout=20)
        return seen[0]

    async def _stored(self) -> bool:
        messages = (await self.http.get(f"/ai/sessions/{self.sid}")).json()["messages"]
        return sum(m["role"] == "assistant" for m in messages) == self.answers


async def _run_events(device: Device, run_id: str, approve: bool) -> list[Event]:
    events: list[Event] = []
    while not events or events[-1]["type"] != "run_end":
        event = await device.next_event()
        if event.get("run_id") != run_id:
            continue
        events.append(event)
        if approve and event["type"] == "tool_call" and event["data"].get("requires_approval"):
            assert device.ws is not None
            decision = {"type": "tool_decision", "call_id": event["data"]["call_id"]}
            await device.ws.send(json.dumps({**decision, "approve": True}))
    await device.ack()
    return events


def _text(events: list[Event]) -> str:
    return "".join(e["data"]["token"] for e in events if e["type"] == "token")


def _third_input_carries_the_first_two_turns(agent: AgentServer, sid: str) -> bool:
    third = [i for i in agent.inputs if i["messages"][-1].get("content") == "delete the file"]
    assert len(third) == 1 and third[0]["threadId"] == sid
    shown = [(m["role"], m.get("content"), m.get("toolCalls")) for m in third[0]["messages"]]
    call = [
        {
            "id": "fc-1",
            "type": "function",
            "function": {"name": "forecast", "arguments": '{"city": "Oslo"}'},
        }
    ]
    assert shown == [
        ("user", "hello agent", None),
        ("assistant", "Hello there", None),
        ("user", "weather please", None),
        ("assistant", None, call),
        ("tool", '"sunny in Oslo"', None),
        ("assistant", "The forecast tool said: sunny in Oslo", None),
        ("user", "delete the file", None),
    ]
    return True
