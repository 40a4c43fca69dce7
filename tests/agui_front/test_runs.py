"""Runs as AG-UI events through the real stack, read with a plain SSE reader written from
docs/protocol.md: tools, errors, cancel, agent switches, a busy session, every event with an
id; a stream dropped mid-run resumed with Last-Event-ID on another gateway replica with exactly
the events it lacks (from the session's stream; from the catch-up state when its position is
not in the stream); a stream resumed after its run ended; a GET joining mid-run."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.agui_front.sse import SseEvent, events, run_input, text_of
from tests.client_ts.test_stack import spare_gateway
from tests.reliability.helpers import bearer, token
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
async def stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    async with isolated_stack(postgres_admin_url, amqp_url, "aguirun") as running:
        yield running


@pytest.fixture(scope="module")
async def other_replica(stack: Stack) -> str:
    """The URL of a second gateway replica of the stack."""
    return f"http://127.0.0.1:{await spare_gateway(stack)}"


class Agui:
    """One user's session, spoken to over the AG-UI endpoints (of the stack's first gateway,
    or of `url`)."""

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

    def get(self, url: str | None = None, **headers: str) -> Any:
        path = f"/ai/sessions/{self.sid}/agui"
        return self.http.stream("GET", f"{url}{path}" if url else path, headers=headers)

    async def dropped(self, content: str, after_chars: int) -> list[SseEvent]:
        """POST `content`; the events up to the first with more than `after_chars` characters
        of text, then the stream is dropped (closed mid-run)."""
        received: list[SseEvent] = []
        async with self.post(content) as response:
            assert response.status_code == 200, await response.aread()
            async for event in events(response):
                received.append(event)
                if event.type == "TEXT_MESSAGE_CONTENT" and len(text_of(received)) > after_chars:
                    break
        return received

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
    assert all("~agui." in e.id for e in received), [e.id for e in received[:3]]
    assert received[0].id.startswith("-~")  # RUN_STARTED: before any event of the session
    assert not any(e.id.startswith("-~") for e in received[-5:]), [e.id for e in received[-5:]]


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


async def test_a_stream_dropped_after_the_error_notice_resumes_to_run_error_with_its_code(
    stack: Stack, other_replica: str
) -> None:
    async with Agui(stack, "agui-error-resume") as agui:
        before: list[SseEvent] = []
        async with agui.post("/error") as response:
            async for event in events(response):
                before.append(event)
                if event.type == "CUSTOM" and event.data["name"] == "switchboard.error":
                    break
        async with agui.get(other_replica, **{"Last-Event-ID": before[-1].id}) as response:
            after = await collect(response)
    assert after[0].id == before[-1].id  # recovered: the events after it come from the stream
    assert types(after) == ["RUN_STARTED", "RUN_ERROR"], types(after)
    assert after[-1].data["code"] == "scripted_error"


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


async def test_a_stream_dropped_mid_run_resumes_on_another_replica_with_exactly_what_it_lacks(
    stack: Stack, other_replica: str
) -> None:
    """A second device watches the whole run uninterrupted: the dropped stream's events are its
    first ones, and the resumed stream (on the other replica) has the opening a resume adds
    (`RUN_STARTED`, `TEXT_MESSAGE_START`, with the id resumed from: its position was recovered)
    then exactly the watcher's remaining events."""
    async with Agui(stack, "agui-resume") as agui:
        async with agui.get(**{"X-Client-Id": "watcher"}) as watching:
            assert watching.status_code == 200
            whole = asyncio.create_task(collect(watching))
            before = await agui.dropped("/tokens 300 rate=100", after_chars=200)
            async with agui.get(other_replica, **{"Last-Event-ID": before[-1].id}) as response:
                assert response.status_code == 200, await response.aread()
                after = [event async for event in events(response)]
            reference = await whole
    assert [e.data for e in before] == [e.data for e in reference[: len(before)]]
    assert types(after)[:2] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert after[0].data == before[0].data and after[0].id == before[-1].id
    assert [e.data for e in after[2:]] == [e.data for e in reference[len(before) :]]
    assert text_of(before) + text_of(after) == words(300)
    assert types(after)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]


async def test_an_id_whose_position_the_stream_does_not_hold_resumes_from_the_catch_up(
    stack: Stack, other_replica: str
) -> None:
    """The same drop, its id's stream position made one the stream does not hold (another
    event's tag there, as after a stream was recreated): the run state in the id and the
    catch-up state give the same rest of the run, exactly."""
    async with Agui(stack, "agui-lost") as agui:
        before = await agui.dropped("/tokens 300 rate=100", after_chars=200)
        position, _, state = before[-1].id.partition("~")
        shard, offset, index, _tag = position.split(".")
        elsewhere = f"{shard}.{offset}.{index}.zzzzzzzz~{state}"
        async with agui.get(other_replica, **{"Last-Event-ID": elsewhere}) as response:
            assert response.status_code == 200, await response.aread()
            after = [event async for event in events(response)]
    assert types(after)[:2] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert after[0].id.startswith("-~")  # not recovered: the catch-up path
    assert text_of(before) + text_of(after) == words(300)
    assert types(after)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]


async def collect(response: httpx.Response) -> list[SseEvent]:
    return [event async for event in events(response)]


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


async def test_a_resume_from_the_run_s_end_goes_on_with_the_session_s_next_run(
    stack: Stack, other_replica: str
) -> None:
    """The id of `RUN_FINISHED` says the client has the run's end: resumed with it (as an
    EventSource reconnecting after the stream ended would), the stream waits for the next run,
    as a `GET` does, instead of sending the ended run again or waiting for it forever."""
    async with Agui(stack, "agui-after") as agui:
        first = await agui.run("/tokens 5")
        assert first[-1].type == "RUN_FINISHED"
        async with agui.get(other_replica, **{"Last-Event-ID": first[-1].id}) as response:
            assert response.status_code == 200, await response.aread()
            path = f"/ai/sessions/{agui.sid}/message"
            sent = await agui.http.post(path, json={"content": "/tokens 3"})
            assert sent.status_code == 202, sent.text
            after = await collect(response)
    assert types(after)[0] == "RUN_STARTED" and types(after)[-1] == "RUN_FINISHED"
    assert after[0].data["runId"] == sent.json()["run_id"] != first[0].data["runId"]
    assert text_of(after) == words(3)


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


async def test_get_mid_run_joins_with_the_answer_so_far_then_the_rest(stack: Stack) -> None:
    async with Agui(stack, "agui-join") as agui, agui.post("/tokens 300 rate=100") as response:
        posted: list[SseEvent] = []
        async for event in events(response):
            posted.append(event)
            if len(text_of(posted)) > 100:
                break
        async with agui.get(**{"X-Client-Id": "phone"}) as joining:
            assert joining.status_code == 200, await joining.aread()
            joined = await collect(joining)
    assert types(joined)[:3] == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "TEXT_MESSAGE_START"]
    run_id = joined[0].data["runId"]
    messages = joined[1].data["messages"]
    assert messages[0]["role"] == "user" and messages[0]["content"] == "/tokens 300 rate=100"
    so_far = next(m["content"] for m in messages if m["id"] == run_id)
    assert len(so_far) >= len(text_of(posted)) and so_far + text_of(joined) == words(300)
    assert types(joined)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]


async def test_an_open_stream_is_a_live_connection_of_its_user(stack: Stack) -> None:
    async with Agui(stack, "agui-live") as agui:
        async with agui.get(**{"X-Client-Id": "phone"}) as watching:
            assert watching.status_code == 200
            stats = (await agui.http.get("/ai/stats")).json()
            assert stats["live_connections"] == 1, stats
