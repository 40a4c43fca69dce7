"""Runs as AG-UI events through the real stack, read with a plain SSE reader written from
docs/protocol.md: tools, errors, cancel, agent switches, a busy session, every event with an
id; a stream closed mid-run or after the run resumed with Last-Event-ID, exactly."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.agui_front.sse import SseEvent, events, run_input, text_of
from tests.reliability.helpers import bearer, token
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
async def stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    async with isolated_stack(postgres_admin_url, amqp_url, "aguirun") as running:
        yield running


class Agui:
    """One user's session, spoken to over the AG-UI endpoints."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.http = httpx.AsyncClient(base_url=stack.url, headers=bearer(token(user)), timeout=30)
        self.sid = ""

    async def __aenter__(self) -> "Agui":
        self.sid = (await self.http.post("/ai/sessions", json={})).json()["id"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def post(self, content: str, device: str = "agui", **forwarded: Any) -> Any:
        body = run_input(self.sid, content, **forwarded)
        headers = {"X-Client-Id": device}
        return self.http.stream("POST", f"/ai/sessions/{self.sid}/agui", json=body, headers=headers)

    def get(self, **headers: str) -> Any:
        return self.http.stream("GET", f"/ai/sessions/{self.sid}/agui", headers=headers)

    async def run(self, content: str, device: str = "agui", **forwarded: Any) -> list[SseEvent]:
        async with self.post(content, device, **forwarded) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            return [event async for event in events(response)]


def types(received: list[SseEvent]) -> list[str]:
    return [e.type for e in received]


def words(count: int) -> str:
    return "".join(f"t{i} " for i in range(1, count + 1))


async def test_a_run_is_run_started_text_then_run_finished_every_event_with_an_id(
    stack: Stack,
) -> None:
    async with Agui(stack, "agui-text") as agui:
        received = await agui.run("/tokens 30")
    assert types(received)[0] == "RUN_STARTED" and types(received)[-1] == "RUN_FINISHED", (
        f"{types(received)}\n{stack.logs()}"
    )
    assert received[0].data["threadId"] == agui.sid
    assert text_of(received) == words(30)
    assert "TEXT_MESSAGE_START" in types(received) and "TEXT_MESSAGE_END" in types(received)
    assert all(e.id.startswith("agui.") for e in received), [e.id for e in received[:3]]


async def test_a_tool_call_and_its_result(stack: Stack) -> None:
    async with Agui(stack, "agui-tool") as agui:
        received = await agui.run("/tool echo text=hi")
    kinds = types(received)
    for kind in ("TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"):
        assert kind in kinds, kinds
    start = next(e for e in received if e.type == "TOOL_CALL_START")
    assert start.data["toolCallName"] == "echo"
    args = next(e for e in received if e.type == "TOOL_CALL_ARGS")
    assert args.data["delta"] == '{"text": "hi"}'
    result = next(e for e in received if e.type == "TOOL_CALL_RESULT")
    assert result.data["toolCallId"] == start.data["toolCallId"] and "hi" in result.data["content"]
    assert kinds[-1] == "RUN_FINISHED"


async def test_a_failed_run_ends_with_run_error_and_its_code(stack: Stack) -> None:
    async with Agui(stack, "agui-error") as agui:
        received = await agui.run("/error")
    assert received[-1].type == "RUN_ERROR" and received[-1].data["code"] == "scripted_error"


async def test_an_agent_switch_is_a_custom_event(stack: Stack) -> None:
    async with Agui(stack, "agui-switch") as agui:
        received = await agui.run("/agent travel")
    custom = [e.data for e in received if e.type == "CUSTOM"]
    switch = next(c for c in custom if c["name"] == "switchboard.agent_switch")
    assert switch["value"]["to"] == "travel"
    assert received[-1].type == "RUN_FINISHED"


async def test_a_second_message_while_the_run_streams_is_409_and_ends_nothing(
    stack: Stack,
) -> None:
    async with Agui(stack, "agui-busy") as agui, agui.post("/tokens 1000 rate=100") as response:
        received = []
        async for event in events(response):
            received.append(event)
            if event.type == "TEXT_MESSAGE_CONTENT" and len(received) < 8:  # the run is going
                busy = await agui.http.post(
                    f"/ai/sessions/{agui.sid}/agui", json=run_input(agui.sid, "hello")
                )
                assert busy.status_code == 409 and busy.json()["error"]["code"] == "run_active"
    assert received[-1].type == "RUN_FINISHED" and text_of(received) == words(1000)


async def test_enqueue_in_forwarded_props_waits_for_the_active_run(stack: Stack) -> None:
    async with Agui(stack, "agui-queue") as agui, agui.post("/tokens 100 rate=50") as first:
        firsts = events(first)
        assert (await anext(firsts)).type == "RUN_STARTED"
        # another device: a second stream of one device would replace the first
        second = asyncio.create_task(agui.run("/tokens 3", "tab-2", on_busy="enqueue"))
        rest = [event async for event in firsts]
        queued = await second
    assert rest[-1].type == "RUN_FINISHED" and text_of(rest) == words(100)
    assert queued[-1].type == "RUN_FINISHED" and text_of(queued) == words(3)


async def test_a_stream_closed_mid_run_resumes_with_last_event_id_exactly(stack: Stack) -> None:
    async with Agui(stack, "agui-resume") as agui:
        before: list[SseEvent] = []
        async with agui.post("/tokens 300 rate=100") as response:
            async for event in events(response):
                before.append(event)
                if event.type == "TEXT_MESSAGE_CONTENT" and len(text_of(before)) > 200:
                    break
        async with agui.get(**{"Last-Event-ID": before[-1].id}) as response:
            after = [event async for event in events(response)]
    assert types(after)[:2] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert after[0].data["runId"] == before[0].data["runId"]
    assert text_of(before) + text_of(after) == words(300)
    assert types(after)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]


async def test_a_stream_resumed_after_its_run_ended_gets_the_rest_from_storage(
    stack: Stack,
) -> None:
    async with Agui(stack, "agui-late") as agui:
        received = await agui.run("/tool echo n=1")
        assert received[0].type == "RUN_STARTED"  # dropped right after it: all of the run is lost
        async with agui.get(**{"Last-Event-ID": received[0].id}) as response:
            after = [event async for event in events(response)]
    assert text_of(after) == text_of(received) and text_of(after)
    kinds = types(after)
    assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED", kinds
    assert "TOOL_CALL_START" in kinds and "TOOL_CALL_RESULT" in kinds, kinds


async def test_get_with_no_run_in_progress_waits_for_the_next_run(stack: Stack) -> None:
    async with Agui(stack, "agui-next") as agui:
        watcher = agui.http.stream(
            "GET", f"/ai/sessions/{agui.sid}/agui", headers={"X-Client-Id": "phone"}
        )
        async with watcher as response:
            assert response.status_code == 200
            sent = asyncio.create_task(agui.run("/tokens 10"))
            watched = [event async for event in events(response)]
            await sent
    assert types(watched)[0] == "RUN_STARTED" and types(watched)[-1] == "RUN_FINISHED"
    assert text_of(watched) == words(10)
