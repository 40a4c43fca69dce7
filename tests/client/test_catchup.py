"""Devices that join mid-run: the hello's `active_run` seeds the run (a `RunCatchUp` item, then
only later events), and without catch-up the late start is a `ReloadNotice`, never silent."""

import asyncio
from typing import Any

import pytest
from switchboard_client import ReloadNotice, RunCatchUp, StreamOptions, SwitchboardClient

from tests.client.fake_gateway import FakeGateway, running
from tests.client.test_stream import collect

pytestmark = pytest.mark.timeout(30)


async def start_run(gw: FakeGateway, sid: str, tokens: int, run_id: str = "run-1") -> list[dict]:
    """An active run that has emitted run_start, a tool call and `tokens` tokens so far."""
    gw.sessions[sid]["active_run"] = run_id
    head = [
        gw.event(sid, "run_start", {"message_id": "m1"}, run_id=run_id, seq=1),
        gw.event(
            sid,
            "tool_call",
            {"call_id": "c1", "tool_name": "get_time", "parameters": {}},
            run_id=run_id,
            seq=2,
        ),
    ]
    words = [
        gw.event(sid, "token", {"token": f"t{i} "}, run_id=run_id, seq=2 + i)
        for i in range(1, tokens + 1)
    ]
    for event in head + words:
        await gw.publish(sid, event)
    return head + words


def tail(gw: FakeGateway, sid: str, first_seq: int, run_id: str = "run-1") -> list[dict]:
    return [
        gw.event(sid, "token", {"token": "more "}, run_id=run_id, seq=first_seq),
        gw.event(sid, "run_end", {"status": "completed"}, run_id=run_id, seq=first_seq + 1),
    ]


async def test_a_late_device_gets_the_answer_so_far_then_only_the_tail(
    fast: StreamOptions,
) -> None:
    async with running(FakeGateway(ack_window=8, catch_up_overlap=3)) as gw:
        sid = gw.new_session()["id"]
        await start_run(gw, sid, tokens=4)  # seq 1..6, before the device exists
        later = tail(gw, sid, 7)
        async with SwitchboardClient(gw.url, gw.token(), stream_options=fast) as client:
            async with client.events(sid, client_id="phone") as stream:
                for event in later:
                    await gw.publish(sid, event)
                got: list[Any] = await collect(stream, 3)
            assert stream.catch_up == got[0]
        # the three events replayed after the hello (seq 4..6) were skipped
        assert gw.sent_ids[:3] == [e["id"] for e in gw.run_events["run-1"][3:6]]
        assert stream.cursor == gw.cursors(sid)[-1]  # the run_end's, handled last
    catch_up = got[0]
    assert isinstance(catch_up, RunCatchUp)
    assert (catch_up.run_id, catch_up.seq, catch_up.text) == ("run-1", 6, "t1 t2 t3 t4 ")
    assert [c["tool_name"] for c in catch_up.tool_calls] == ["get_time"]
    assert [e.id for e in got[1:]] == [e["id"] for e in later]


async def test_a_reconnect_with_catch_up_yields_it_only_when_it_is_news(
    fast: StreamOptions,
) -> None:
    async with running(FakeGateway(ack_window=8)) as gw:
        sid = gw.new_session()["id"]
        events = await start_run(gw, sid, tokens=2)  # seq 1..4
        async with SwitchboardClient(gw.url, gw.token(), stream_options=fast) as client:
            stream = client.events(sid, client_id="tab")
            async with stream:
                first = await collect(stream, 1)
                consumer = asyncio.create_task(collect(stream, 2))
                assert stream.cursor is None  # nothing but the catch-up came: not resumable
                device = gw.devices[(sid, "tab")]
                assert device.ws is not None
                await device.ws.close(1012)
                await gw.wait_connects(2)
                await gw.publish(sid, tail(gw, sid, 5)[0])
                second = await consumer
    assert isinstance(first[0], RunCatchUp) and first[0].seq == len(events)
    # no second catch-up (nothing new up to seq 4); what came while away is in the reload
    assert [type(i).__name__ for i in second] == ["ReloadNotice", "TokenEvent"]
    assert second[0].reason == "buffer_expired"


async def test_a_run_that_started_before_the_device_joined_is_a_notice(
    fast: StreamOptions,
) -> None:
    async with running(FakeGateway(ack_window=8, catch_up=False)) as gw:
        sid = gw.new_session()["id"]
        await start_run(gw, sid, tokens=3)  # seq 1..5
        later = tail(gw, sid, 6)
        async with SwitchboardClient(gw.url, gw.token(), stream_options=fast) as client:
            async with client.events(sid, client_id="late") as stream:
                for event in later:
                    await gw.publish(sid, event)
                got = await collect(stream, 3)
    notice = got[0]
    assert isinstance(notice, ReloadNotice)
    assert (notice.reason, notice.run_id) == ("joined_mid_run", "run-1")
    assert notice.session["active_run"]["text"].startswith("t1 t2 t3 ")  # GET: state so far
    assert [e.id for e in got[1:]] == [e["id"] for e in later]


async def test_events_of_a_run_from_its_start_need_no_catch_up(fast: StreamOptions) -> None:
    async with running(FakeGateway(ack_window=8)) as gw:
        sid = gw.new_session()["id"]
        async with SwitchboardClient(gw.url, gw.token(), stream_options=fast) as client:
            async with client.events(sid, client_id="early") as stream:
                events = await start_run(gw, sid, tokens=2)
                got = await collect(stream, len(events))
            assert stream.catch_up is None
    assert [e.id for e in got] == [e["id"] for e in events]
    assert not any(isinstance(i, ReloadNotice | RunCatchUp) for i in got)


async def test_catch_up_state_is_read_from_the_hello_only_once_per_connect(
    fast: StreamOptions,
) -> None:
    """A malformed `active_run` is ignored (the stream goes on; holes are still reported)."""
    async with running(FakeGateway(ack_window=8)) as gw:
        sid = gw.new_session()["id"]
        gw.sessions[sid]["active_run"] = "run-1"
        gw.run_events["run-1"] = []
        async with SwitchboardClient(gw.url, gw.token(), stream_options=fast) as client:
            async with client.events(sid, client_id="x") as stream:
                got = await collect(stream, 1)
                (event,) = tail(gw, sid, 1)[:1]
                await gw.publish(sid, event)
                got += await collect(stream, 1)
    assert isinstance(got[0], RunCatchUp) and (got[0].seq, got[0].text) == (0, "")
    assert got[1].id == event["id"]
