"""The SDK's event stream against a gateway we control: acks, dedupe, resume by cursor, holes,
refresh."""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from switchboard_client import (
    Backoff,
    ReloadNotice,
    Replaced,
    SessionEnded,
    SessionNotFound,
    StreamOptions,
    SwitchboardClient,
)

from tests.client.fake_gateway import FakeGateway

pytestmark = pytest.mark.timeout(30)


def token_events(gw: FakeGateway, sid: str, count: int, run_id: str = "run-1") -> list[dict]:
    return [
        gw.event(sid, "token", {"token": f"t{i}"}, run_id=run_id, seq=i)
        for i in range(1, count + 1)
    ]


async def collect(stream: Any, count: int) -> list[Any]:
    items: list[Any] = []
    async for item in stream:
        items.append(item)
        if len(items) == count:
            break
    return items


async def test_acks_every_half_window_and_after_processing(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    sid = gateway.new_session()["id"]
    events = token_events(gateway, sid, 40)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        stream = client.events(sid, client_id="dev1")
        got: list[Any] = []
        async with stream:
            consumer = asyncio.create_task(collect(stream, 40))
            await gateway.wait_connects(1)
            for event in events:
                await gateway.publish(sid, event)
            got = await consumer
        # closing the stream acks the last event the loop handled
        async with asyncio.timeout(5):
            while gateway.devices[(sid, "dev1")].acked != events[-1]["id"]:
                await asyncio.sleep(0.02)
    # acks change nothing in v2, but a client acking every half window (8) never stalls
    assert [e.id for e in got] == [e["id"] for e in events]
    acks = [f["id"] for f in gateway.frames if f["type"] == "ack"]
    positions = [[e["id"] for e in events].index(a) for a in acks]
    assert positions == sorted(positions) and positions[-1] == 39
    assert max(b - a for a, b in zip([-1, *positions], positions, strict=False)) <= 4


async def test_reconnect_resumes_after_the_cursor_of_the_last_handled_event(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    sid = gateway.new_session()["id"]
    events = token_events(gateway, sid, 6)
    states: list[str] = []
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        stream = client.events(sid, client_id="dev1", on_state=states.append)
        iterator = aiter(stream)
        consumer = asyncio.create_task(anext(iterator))
        await gateway.wait_connects(1)
        for event in events[:3]:
            await gateway.publish(sid, event)
        first = [await consumer, await anext(iterator), await anext(iterator)]
        # the third is handed over, not yet handled: the cursor is the second's
        assert stream.cursor == client.cursor(sid, "dev1") == gateway.cursors(sid)[1]
        await gateway.drop(sid)
        for event in events[3:]:  # published while away: replayed after the cursor
            await gateway.publish(sid, event)
        rest = [await anext(iterator) for _ in range(3)]
        await stream.aclose()
    assert [e.id for e in first + rest] == [e["id"] for e in events]
    assert [h["recovered"] for h in gateway.hellos] == [False, True]
    assert "cursor" not in gateway.auth_frames[0]
    assert gateway.auth_frames[1]["cursor"] == gateway.cursors(sid)[2]
    assert states[:4] == ["connecting", "live", "reconnecting", "resumed"]


async def test_a_duplicate_id_is_yielded_once(gateway: FakeGateway, fast: StreamOptions) -> None:
    sid = gateway.new_session()["id"]
    a, b = token_events(gateway, sid, 2)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            consumer = asyncio.create_task(collect(stream, 2))
            await gateway.wait_connects(1)
            for event in (a, a, a, b):
                await gateway.publish(sid, event)
            got = await consumer
    assert [e.id for e in got] == [a["id"], b["id"]]


async def test_seq_hole_reloads_the_stored_response(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    session = gateway.new_session()
    sid = session["id"]
    session["messages"].append({"role": "assistant", "content": "full reply", "run_id": "run-1"})
    one, _, _, four = token_events(gateway, sid, 4)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            consumer = asyncio.create_task(collect(stream, 3))
            await gateway.wait_connects(1)
            await gateway.publish(sid, one)
            await gateway.publish(sid, four)
            got = await consumer
    assert got[0].id == one["id"]
    assert isinstance(got[1], ReloadNotice)
    assert (got[1].reason, got[1].run_id, got[1].response) == ("seq_gap", "run-1", "full reply")
    assert got[2].id == four["id"]


async def test_unknown_event_types_are_skipped_with_a_warning(
    gateway: FakeGateway, fast: StreamOptions, caplog: pytest.LogCaptureFixture
) -> None:
    sid = gateway.new_session()["id"]
    (known,) = token_events(gateway, sid, 1)
    future = {**known, "id": "X1", "type": "hologram", "data": {"shape": "cube"}}
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            consumer = asyncio.create_task(collect(stream, 1))
            await gateway.wait_connects(1)
            with caplog.at_level(logging.WARNING, "switchboard_client"):
                await gateway.publish(sid, future)
                await gateway.publish(sid, known)
                got = await consumer
    assert [e.id for e in got] == [known["id"]]
    assert "does not understand" in caplog.text


async def test_newer_fields_and_types_do_not_break_an_older_sdk(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    """A newer server adds a field to a known event and a new event type inside a run: the
    event is yielded without the field, the new type is skipped, and its seq counts (no
    `seq_gap` notice for the next event)."""
    sid = gateway.new_session()["id"]
    first, second = token_events(gateway, sid, 2)
    newer_type = {**first, "type": "hologram", "data": {"shape": "cube"}}
    newer_field = {**second, "later": 1, "data": {**second["data"], "style": "bold"}}
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            consumer = asyncio.create_task(collect(stream, 1))
            await gateway.wait_connects(1)
            await gateway.publish(sid, newer_type)
            await gateway.publish(sid, newer_field)
            got = await consumer
    assert [(e.id, e.data.token) for e in got] == [(second["id"], second["data"]["token"])]


async def test_token_is_refreshed_before_expiry_and_after_4401(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    issued: list[str] = []

    def provider() -> str:
        issued.append(gateway.token(ttl_s=2))
        return issued[-1]

    sid = gateway.new_session()["id"]
    fast.refresh_margin_s = 1.0
    async with SwitchboardClient(gateway.url, token_provider=provider, stream_options=fast) as c:
        async with c.events(sid, client_id="dev1") as stream:
            consumer = asyncio.create_task(collect(stream, 2))
            await gateway.wait_connects(1)
            before, after = token_events(gateway, sid, 2)
            await gateway.publish(sid, before)  # its cursor resumes the reconnect below
            async with asyncio.timeout(10):  # outlives the first token only by refreshing
                while sum(f["type"] == "refresh" for f in gateway.frames) < 2:
                    await asyncio.sleep(0.05)
            assert len(gateway.hellos) == 1
            await gateway.devices[(sid, "dev1")].ws.close(4401)  # type: ignore[union-attr]
            await gateway.wait_connects(2)
            await gateway.publish(sid, after)
            assert [e.id for e in await consumer] == [before["id"], after["id"]]
    assert gateway.auth_tokens[-1] == issued[-1] != gateway.auth_tokens[0]


@pytest.mark.parametrize(
    ("code", "error"), [(4404, SessionNotFound), (4410, SessionEnded), (4409, Replaced)]
)
async def test_fatal_close_codes_stop_the_stream(
    gateway: FakeGateway, fast: StreamOptions, code: int, error: type[Exception]
) -> None:
    sid = gateway.new_session()["id"]
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        stream = client.events(sid, client_id="dev1")
        consumer = asyncio.create_task(collect(stream, 1))
        await gateway.wait_connects(1)
        await gateway.drop(sid, code)
        with pytest.raises(error):
            await consumer
    assert len(gateway.hellos) == 1  # no reconnect attempt after a fatal code


@dataclass
class RecordingBackoff(Backoff):
    """The SDK's backoff, noting the attempt number of each wait it gives."""

    attempts: list[int] = field(default_factory=list)

    def next_delay(self) -> float:
        self.attempts.append(self.attempt)
        return super().next_delay()


async def test_a_connect_refused_4429_is_retried_with_a_growing_backoff(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    """docs/protocol.md: 4429 `connect_rate_limited` (a device or user past its connect budget)
    means back off and reconnect: the stream waits longer after each refusal (no reset before a
    hello), then connects and delivers, without raising."""
    backoff = RecordingBackoff(base_s=0.02, cap_s=0.2)
    fast.backoff = backoff
    sid = gateway.new_session()["id"]
    reason = "connect_rate_limited: over 30 connects a minute for this device; retry in 1s"
    gateway.refusals = [(4429, reason)] * 3
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        consumer = asyncio.create_task(collect(client.events(sid, client_id="dev1"), 1))
        await gateway.wait_connects(1)
        (event,) = token_events(gateway, sid, 1)
        await gateway.publish(sid, event)
        assert [e.id for e in await consumer] == [event["id"]]
    assert backoff.attempts == [0, 1, 2] and not gateway.refusals


async def test_another_users_session_is_not_found(gateway: FakeGateway) -> None:
    sid = gateway.new_session(user="bob")["id"]
    async with SwitchboardClient(gateway.url, gateway.token("alice")) as client:
        with pytest.raises(SessionNotFound):
            await collect(client.events(sid), 1)


async def test_progress_needs_no_quiet_time_ack(gateway: FakeGateway, fast: StreamOptions) -> None:
    """Without the quiet-time ack, acks every half window alone keep the events flowing."""
    fast.ack_delay_s = None
    sid = gateway.new_session()["id"]
    events = token_events(gateway, sid, 40)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            for event in events:  # all at once: the fake holds back all but 8 unacked
                await gateway.publish(sid, event)
            got = await collect(stream, 40)
    assert [e.id for e in got] == [e["id"] for e in events]
    acks = [f["id"] for f in gateway.frames if f["type"] == "ack"]
    assert acks == [events[i]["id"] for i in range(3, 40, 4)]  # exactly every half window


async def until_run_end(stream: Any) -> list[Any]:
    items: list[Any] = []
    async for item in stream:
        items.append(item)
        if item.type == "run_end":
            return items
    return items


async def test_a_message_sent_right_after_opening_reaches_the_device_whole(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    """The README's order: open the stream, send, then iterate. The fake, like the real
    gateway, makes a device's buffer only when it connects."""
    sid = gateway.new_session()["id"]
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="laptop") as stream:
            await client.send_message(sid, "/tokens 3")
            got = await until_run_end(stream)
    assert [i.type for i in got] == ["message", "run_start", "thinking", *["token"] * 3,
                                     "response", "run_end"]  # fmt: skip
    assert got[0].data.client_id == "laptop"  # known as this device's own echo


async def test_send_message_opens_a_stream_that_is_about_to_be_read(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    sid = gateway.new_session()["id"]
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        stream = client.events(sid, client_id="tab")
        consumer = asyncio.create_task(until_run_end(stream))  # not started yet
        await client.send_message(sid, "/tokens 2")
        got = await asyncio.wait_for(consumer, 10)
        await stream.aclose()
    assert [i.type for i in got][:3] == ["message", "run_start", "thinking"]
    assert got[0].data.client_id == "tab"
    assert len(gateway.hellos) == 1


async def test_a_cursor_past_retention_reloads_the_session_then_goes_live(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    """`recovered: false` after a cursor was sent: what came while away is only in the
    history, so the stream yields a `buffer_expired` reload, then the live events."""
    sid = gateway.new_session()["id"]
    one, lost, live = (token_events(gateway, sid, 1, f"run-{i}")[0] for i in range(3))
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            await gateway.publish(sid, one)
            got = await collect(stream, 1)
            sent = gateway.cursors(sid)[0]
            consumer = asyncio.create_task(collect(stream, 2))
            await gateway.drop(sid)
            await gateway.publish(sid, lost)
            gateway.expire(sid)
            await gateway.wait_connects(2)
            await gateway.publish(sid, live)
            got += await consumer
    assert [h["recovered"] for h in gateway.hellos] == [False, False]
    assert gateway.auth_frames[1]["cursor"] == sent
    assert isinstance(got[1], ReloadNotice) and got[1].reason == "buffer_expired"
    assert [got[0].id, got[2].id] == [one["id"], live["id"]]


async def test_a_slow_consumer_close_reconnects_with_the_cursor(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    """4408 (outbound buffer full) is not fatal: the stream resumes after its cursor."""
    sid = gateway.new_session()["id"]
    events = token_events(gateway, sid, 4)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            for event in events[:2]:
                await gateway.publish(sid, event)
            got = await collect(stream, 2)
            consumer = asyncio.create_task(collect(stream, 2))
            await gateway.drop(sid, 4408)
            for event in events[2:]:
                await gateway.publish(sid, event)
            got += await consumer
    assert [e.id for e in got] == [e["id"] for e in events]
    assert gateway.auth_frames[1]["cursor"] == gateway.cursors(sid)[1]
    assert [h["recovered"] for h in gateway.hellos] == [False, True]


async def test_a_saved_cursor_resumes_a_later_client_and_a_bad_one_is_dropped(
    gateway: FakeGateway, fast: StreamOptions
) -> None:
    """An app persists `stream.cursor` and starts a later stream from it (`cursor=`); a cursor
    the gateway cannot parse gets `invalid_cursor` and is not sent again."""
    sid = gateway.new_session()["id"]
    events = token_events(gateway, sid, 3)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1") as stream:
            await gateway.publish(sid, events[0])
            await collect(stream, 1)
        saved = client.cursor(sid, "dev1")
    assert saved == gateway.cursors(sid)[0]
    for event in events[1:]:
        await gateway.publish(sid, event)
    async with SwitchboardClient(gateway.url, gateway.token(), stream_options=fast) as client:
        async with client.events(sid, client_id="dev1", cursor=saved) as stream:
            got = await collect(stream, 2)
        async with client.events(sid, client_id="dev1", resume=False):
            await gateway.wait_connects(3)  # resume=False: no cursor, though dev1 had one
        async with client.events(sid, client_id="dev2", cursor="not a cursor") as bad:
            consumer = asyncio.create_task(collect(bad, 2))
            async with asyncio.timeout(5):  # read after the first reload: the error frame
                while bad.cursor is not None:
                    await asyncio.sleep(0.02)
            await gateway.drop(sid)
            reloads = await consumer
    assert [e.id for e in got] == [e["id"] for e in events[1:]]
    assert [h["recovered"] for h in gateway.hellos] == [False, True, False, False, False]
    assert "cursor" not in gateway.auth_frames[2]
    assert [type(i) for i in reloads] == [ReloadNotice, ReloadNotice]
    assert gateway.auth_frames[3]["cursor"] == "not a cursor"
    assert "cursor" not in gateway.auth_frames[4]
