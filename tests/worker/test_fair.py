"""Fair sharing in the workers: run duration, stub caps, tool calls per user, cancelling tool
work, and speech synthesis bounded and off the event loop (issue 12, items 4 to 6)."""

import asyncio
from collections.abc import Iterator

import pytest
from switchboard_events import BrokerSettings, Event
from switchboard_orchestrator.tools.server import ToolServer
from switchboard_stack import ServiceProcess

from tests.conftest import wait_until
from tests.worker.harness import (
    Client,
    Device,
    assert_seq,
    process_env,
    running_worker,
    types,
    worker_settings,
)

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]


def drain(device: Device) -> list[Event]:
    """The events that arrived so far, without waiting."""
    seen = []
    while not device.events.empty():
        seen.append(device.events.get_nowait())
    return seen


async def no_calls_running(tools: ToolServer) -> bool:
    return len(tools.calls) == 0


@pytest.mark.parametrize(
    ("content", "setting"),
    [
        ("/sleep 3600", "STUB_MAX_SLEEP_S"),
        ("/tokens 2 rate=0.00001", "MAX_RUN_S"),
        ("/tokens 1000000", "STUB_MAX_TOKENS"),
        ("/speak " + "x" * 2001, "MAX_TTS_CHARS"),
    ],
)
async def test_a_directive_over_a_cap_is_refused_up_front(client: Client, worker, content, setting):
    device = await client.device()
    events = await device.run(await client.send(device, content))

    assert types(events) == ["run_start", "error", "run_end"]
    assert events[1].data.code == "limit_exceeded" and setting in events[1].data.message
    assert events[2].data.status == "failed"


async def test_a_run_over_max_run_s_fails_run_timeout_and_its_tool_call_is_cancelled(
    client: Client, broker_settings: BrokerSettings, tools: ToolServer
):
    device = await client.device()
    # MAX_RUN_S=1 so the test need not wait the shipped 300 s; the tool would sleep 10 s.
    async with running_worker(worker_settings(broker_settings, MAX_RUN_S=1)):
        events = await device.run(await client.send(device, "/tool slow seconds=10"))
        await wait_until(lambda: no_calls_running(tools), timeout=5)

    assert types(events) == ["run_start", "tool_call", "error", "run_end"]
    assert events[2].data.code == "run_timeout" and "MAX_RUN_S" in events[2].data.message
    assert events[3].data.status == "failed"
    assert_seq(events)


async def test_a_timed_out_tool_call_stops_in_the_tool_worker(
    client: Client, broker_settings: BrokerSettings, tools: ToolServer
):
    device = await client.device()
    # TOOL_TIMEOUT_S=0.5 so the call times out long before the tool's 10 s sleep ends.
    async with running_worker(worker_settings(broker_settings, TOOL_TIMEOUT_S=0.5)):
        events = await device.run(await client.send(device, "/tool slow seconds=10"))
        await wait_until(lambda: no_calls_running(tools), timeout=5)

    assert events[2].type == "tool_result" and events[2].data.error == "timeout"


async def test_cancelling_a_run_stops_its_tool_call(client: Client, worker, tools: ToolServer):
    device = await client.device()
    run_id = await client.send(device, "/tool slow seconds=10")
    await device.until("tool_call", run_id)
    await wait_until(lambda: _running(tools), timeout=5)
    await client.cancel(device, run_id)
    events = await device.until("run_end", run_id)
    await wait_until(lambda: no_calls_running(tools), timeout=5)

    assert events[-1].data.status == "cancelled"


async def _running(tools: ToolServer) -> bool:
    return len(tools.calls) > 0


@pytest.fixture
def procs() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for proc in started:
        proc.kill()
        print(f"--- {proc.script}\n{proc.output()[-4000:]}")  # shown when the test failed


async def test_one_user_cannot_fill_the_tool_worker(
    client: Client, broker_settings: BrokerSettings, procs: list[ServiceProcess]
):
    """16 slow calls of one user (as many as TOOL_PREFETCH) with the shipped defaults: the
    user's calls beyond MAX_TOOL_CALLS_PER_USER are refused at once, another user's call is
    answered while the first user's slow calls still sleep."""
    for script, ready in (
        ("switchboard-tools", "tools ready"),
        ("switchboard-worker", "worker ready"),
    ):
        proc = ServiceProcess(script, [], process_env(broker_settings)).start()
        procs.append(proc)
        await proc.wait_output(ready)
    hogs = [await client.device() for _ in range(16)]
    for device in hogs:
        await client.send(device, "/tool slow seconds=9", user_id="mallory")
    bystander = await client.device()
    events = await bystander.run(await client.send(bystander, "/tool get_time", user_id="bob"))

    assert events[2].type == "tool_result" and events[2].data.result["timezone"] == "UTC"
    early = [drain(d) for d in hogs]
    assert not [e for run in early for e in run if e.type == "tool_result" and e.data.result]

    async def rest(device: Device, seen: list[Event]) -> list[Event]:
        return seen if types(seen)[-1:] == ["run_end"] else seen + await device.until("run_end")

    runs = await asyncio.gather(*(rest(d, seen) for d, seen in zip(hogs, early, strict=True)))
    results = [e.data for run in runs for e in run if e.type == "tool_result"]
    refused = [r for r in results if (r.error or "").startswith("too_many_tool_calls")]
    assert len(results) == 16 and len(refused) >= 16 - 8  # at most 4 at a time, 9 s each
    assert "MAX_TOOL_CALLS_PER_USER" in refused[0].error


async def test_a_long_voice_reply_is_spoken_in_bounded_chunks_off_the_event_loop(
    client: Client, worker
):
    voice, text = await client.device(), await client.device()
    voice_run = await client.send(voice, "/tokens 6000", mode="voice")
    text_run = await client.send(text, "/tokens 300")
    spoken_events = await voice.run(voice_run)
    other = await text.run(text_run)

    assert other[-1].data.status == "completed" and types(other).count("token") == 300
    tts = [e.data for e in spoken_events if e.type == "tts"]
    response = next(e for e in spoken_events if e.type == "response").data.content
    assert len(response) > 30_000
    # 2 000 characters of "tN " words at 16 words a chunk: about 18 chunks, each bounded
    assert 10 <= len(tts) <= 40 and max(len(c.audio) for c in tts) < 2_000_000
    assert tts[-1].final and [c.chunk for c in tts] == list(range(len(tts)))
    warning = next(e for e in spoken_events if e.type == "warning")
    assert warning.data.code == "tts_truncated" and "MAX_TTS_CHARS" in warning.data.message
    assert types(spoken_events)[-4:] == ["tts", "warning", "response", "run_end"]
