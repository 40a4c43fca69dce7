"""Events from the broker become history, idempotently; idle sessions expire."""

import pytest
from switchboard_events import make_event, new_id
from switchboard_protocol.wav import write_wav

from tests.conftest import wait_until
from tests.session.conftest import auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE = auth("alice")


async def history(client, sid: str) -> list[dict]:
    return (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()["messages"]


async def test_run_events_become_history_once(client, publish) -> None:
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    accepted = (
        await client.post(f"/ai/sessions/{sid}/message", json={"content": "/tool x"}, headers=ALICE)
    ).json()
    run = accepted["run_id"]
    reply_id = new_id()
    events = [
        make_event(
            "run_start", {"message_id": accepted["message_id"]}, session_id=sid, run_id=run, seq=1
        ),
        make_event(
            "tool_call",
            {"call_id": "c1", "tool_name": "x", "parameters": {"a": 1}},
            session_id=sid,
            run_id=run,
            seq=2,
        ),
        make_event(
            "tool_result",
            {"call_id": "c1", "tool_name": "x", "result": {"ok": True}},
            session_id=sid,
            run_id=run,
            seq=3,
        ),
        make_event(
            "agent_switch", {"from": "personal", "to": "travel"}, session_id=sid, run_id=run, seq=4
        ),
        make_event(
            "response",
            {"content": "done", "message_id": reply_id},
            session_id=sid,
            run_id=run,
            seq=5,
        ),
    ]
    for event in events:
        await publish(event)
    await publish(events[-1])  # a redelivered response
    await publish(events[1])  # and a redelivered tool call
    end = make_event("run_end", {"status": "completed"}, session_id=sid, run_id=run, seq=6)
    await publish(end)

    async def ended() -> bool:
        got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
        return got["active_run"] is None

    await wait_until(ended)
    messages = await history(client, sid)
    assert [(m["role"], m["seq"]) for m in messages] == [
        ("user", 1),
        ("tool", 2),
        ("tool", 3),
        ("assistant", 4),
    ]
    assert messages[1]["tool"] == {
        "kind": "call",
        "call_id": "c1",
        "tool_name": "x",
        "parameters": {"a": 1},
        "result": None,
        "error": None,
        "reason": None,
        "requires_approval": False,
        "approval_expires_at": None,
    }
    assert messages[2]["tool"]["result"] == {"ok": True}
    assert messages[3]["id"] == reply_id and messages[3]["content"] == "done"
    session = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert session["agent_type"] == "travel"
    rows = await fetch(
        client.database_url, "SELECT status, started_at, ended_at, response_message_id FROM runs"
    )
    assert rows[0]["status"] == "completed" and rows[0]["started_at"] and rows[0]["ended_at"]
    assert rows[0]["response_message_id"] == reply_id
    stats = (await client.get("/ai/stats", headers=ALICE)).json()
    assert stats["messages"] == 4 and stats["runs"] == 1


async def test_error_event_fails_run(client, publish) -> None:
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    run = (
        await client.post(f"/ai/sessions/{sid}/message", json={"content": "/error"}, headers=ALICE)
    ).json()["run_id"]
    await publish(
        make_event(
            "error", {"code": "boom", "message": "it broke"}, session_id=sid, run_id=run, seq=1
        )
    )
    await publish(make_event("run_end", {"status": "failed"}, session_id=sid, run_id=run, seq=2))

    async def failed() -> bool:
        rows = await fetch(client.database_url, "SELECT status, error FROM runs")
        return rows[0]["status"] == "failed" and rows[0]["error"] == "boom: it broke"

    await wait_until(failed)


async def test_an_utterance_s_final_transcript_becomes_its_message(client, publish) -> None:
    """An upload is stored as an empty user message; the final `stt` (not a partial, not a
    redelivery or a later one) gives it its text, so history, the title and the model's next
    turns hold what was said."""
    body = {"mode": "voice"}
    sid = (await client.post("/ai/sessions", json=body, headers=ALICE)).json()["id"]
    headers = {**ALICE, "Content-Type": "audio/wav"}
    wav = write_wav(bytes(3200), 16000)
    accepted = (await client.post(f"/ai/sessions/{sid}/audio", content=wav, headers=headers)).json()
    run = accepted["run_id"]
    assert (await history(client, sid))[0]["content"] == ""

    def stt(text: str, final: bool, seq: int):  # type: ignore[no-untyped-def]
        data = {"text": text, "final": final}
        return make_event("stt", data, session_id=sid, run_id=run, seq=seq)

    final = stt("one two three", True, 2)
    for event in (stt("one two", False, 1), final, final, stt("something else", True, 3)):
        await publish(event)
    end = make_event("run_end", {"status": "completed"}, session_id=sid, run_id=run, seq=4)
    await publish(end)

    async def ended() -> bool:
        got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
        return got["active_run"] is None

    await wait_until(ended)
    [message] = await history(client, sid)
    assert message["id"] == accepted["message_id"] and message["content"] == "one two three"
    assert message["metadata"] == {"audio": True}
    listed = (await client.get("/ai/sessions", headers=ALICE)).json()["items"]
    assert [s["title"] for s in listed if s["id"] == sid] == ["one two three"]


async def test_idle_session_expires_with_session_end(make_app, stream_tap, database_url) -> None:
    client = await make_app(SESSION_TTL_S=0.5, SWEEP_INTERVAL_S=0.2)
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    ends = await stream_tap(sid, "session_end")
    end = await ends.next_event(timeout=15)
    assert end.type == "session_end" and end.data.reason == "expired"

    async def ended() -> bool:  # the event goes out just before the sweeper's commit
        got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
        return bool(got["status"] == "ended")

    await wait_until(ended)
    audit = await fetch(database_url, "SELECT action FROM audit_log WHERE session_id = $1", sid)
    assert sorted(r["action"] for r in audit) == ["session.create", "session.expire"]


async def test_creating_and_deleting_declare_nothing_on_the_broker(
    client, stream_tap, broker_settings, names
) -> None:
    """A session with a device: its `session_start` and `session_end` are on its shard stream,
    and the broker has no queue for the device (v1's name for it), before or after DELETE."""
    from switchboard_events import broker_connection, queue_exists

    body = {"client_id": "web-1"}
    sid = (await client.post("/ai/sessions", json=body, headers=ALICE)).json()["id"]
    events = await stream_tap(sid, "session_start", "session_end")
    start = await events.next_event(timeout=15)
    assert start.type == "session_start" and start.data.client_id == "web-1"
    device_queue = f"{names.prefix}ai.session.{sid}.web-1"
    async with broker_connection(broker_settings, "test-check") as conn:
        assert not await queue_exists(conn, device_queue)
        assert (await client.delete(f"/ai/sessions/{sid}", headers=ALICE)).status_code == 204
        assert (await events.next_event(timeout=15)).type == "session_end"
        assert not await queue_exists(conn, device_queue)
