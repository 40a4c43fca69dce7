"""Messages make runs: one active per session; reject, interrupt, enqueue; cancel; audio."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from switchboard_events import make_event
from switchboard_protocol.wav import write_wav

from tests.conftest import wait_until
from tests.session.conftest import auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE = auth("alice")


async def new_session(client: httpx.AsyncClient, **body: object) -> str:
    response = await client.post("/ai/sessions", json=body, headers=ALICE)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def say(client: httpx.AsyncClient, sid: str, content: str, **extra: object) -> httpx.Response:
    headers = {**ALICE, "X-Client-Id": "web-1"}
    body = {"content": content, "metadata": {"m": 1}, **extra}
    return await client.post(f"/ai/sessions/{sid}/message", json=body, headers=headers)


async def end_run(publish, sid: str, run_id: str, status: str = "completed") -> None:
    await publish(make_event("run_end", {"status": status}, session_id=sid, run_id=run_id, seq=2))


async def active_run(client: httpx.AsyncClient, sid: str) -> dict | None:
    return (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()["active_run"]


async def test_message_publishes_run_request_and_message_event(
    client, tap, stream_tap, names
) -> None:
    sid = await new_session(client)
    commands = await tap(names.commands_exchange, "run")
    echoes = await stream_tap(sid, "message")
    response = await say(client, sid, "/tokens 5")
    assert response.status_code == 202, response.text
    accepted = response.json()
    request = await commands.next_json()
    start_by = datetime.fromisoformat(request.pop("start_by"))  # RUN_START_TIMEOUT_S from now
    assert abs(start_by - datetime.now(UTC) - timedelta(seconds=30)) < timedelta(seconds=10)
    assert request == {
        "run_id": accepted["run_id"],
        "session_id": sid,
        "message_id": accepted["message_id"],
        "user_id": "alice",
        "agent_type": "personal",
        "mode": "text",
        "content": "/tokens 5",
        "audio_b64": None,
        "client_id": "web-1",
        "metadata": {"m": 1},
        "history": [],
        "history_dropped": 0,
        "lease_s": 10.0,  # RUN_LEASE_S, set in this service only, travels to the worker
    }
    echo = await echoes.next_event()
    assert echo.type == "message"
    assert echo.data.model_dump() == {
        "content": "/tokens 5",
        "message_id": accepted["message_id"],
        "client_id": "web-1",
    }
    got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert [(m["role"], m["content"], m["seq"]) for m in got["messages"]] == [
        ("user", "/tokens 5", 1)
    ]
    assert got["active_run"]["id"] == accepted["run_id"] and got["active_run"]["status"] == "queued"


async def test_second_message_while_busy_is_409_and_stores_nothing(client, publish) -> None:
    sid = await new_session(client)
    first = (await say(client, sid, "one")).json()
    busy = await say(client, sid, "two")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "run_active"
    got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert len(got["messages"]) == 1
    await publish(make_event("run_start", {}, session_id=sid, run_id=first["run_id"], seq=1))

    async def running() -> bool:
        return (await active_run(client, sid) or {}).get("status") == "running"

    await wait_until(running)
    await end_run(publish, sid, first["run_id"])

    async def idle() -> bool:
        return await active_run(client, sid) is None

    await wait_until(idle)
    assert (await say(client, sid, "three")).status_code == 202


async def test_enqueue_starts_when_active_run_ends(client, publish, tap, names) -> None:
    sid = await new_session(client)
    commands = await tap(names.commands_exchange, "run")
    first = (await say(client, sid, "one")).json()
    queued = await say(client, sid, "two", on_busy="enqueue")
    assert queued.status_code == 202
    assert (await commands.next_json())["run_id"] == first["run_id"]
    got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert got["queued_runs"] == 1 and got["active_run"]["id"] == first["run_id"]
    await end_run(publish, sid, first["run_id"])
    second = await commands.next_json()
    assert second["run_id"] == queued.json()["run_id"] and second["content"] == "two"

    async def second_active() -> bool:  # the request goes out just before the commit
        return (await active_run(client, sid) or {}).get("id") == second["run_id"]

    await wait_until(second_active)


async def test_interrupt_cancels_active_run_then_starts_new(client, publish, tap, names) -> None:
    sid = await new_session(client)
    commands = await tap(names.commands_exchange, "run")
    first = (await say(client, sid, "/sleep 30")).json()
    await commands.next_json()
    cancels = await tap(names.control_exchange, f"cancel.{first['run_id']}")
    new = await say(client, sid, "stop that", on_busy="interrupt")
    assert new.status_code == 202
    assert await cancels.next_json() == {"run_id": first["run_id"], "session_id": sid}
    await end_run(publish, sid, first["run_id"], "cancelled")
    assert (await commands.next_json())["run_id"] == new.json()["run_id"]

    async def first_cancelled() -> bool:  # the request goes out just before the commit
        rows = await fetch(
            client.database_url, "SELECT status FROM runs WHERE id = $1", first["run_id"]
        )
        return bool(rows[0]["status"] == "cancelled")

    await wait_until(first_cancelled)


async def test_cancel_endpoint(client, tap, names) -> None:
    sid = await new_session(client)
    idle = await client.post(f"/ai/sessions/{sid}/cancel", headers=ALICE)
    assert idle.status_code == 409 and idle.json()["error"]["code"] == "no_active_run"
    run_id = (await say(client, sid, "/sleep 5")).json()["run_id"]
    cancels = await tap(names.control_exchange, f"cancel.{run_id}")
    response = await client.post(f"/ai/sessions/{sid}/cancel", headers=ALICE)
    assert response.status_code == 202 and response.json() == {"run_id": run_id}
    assert (await cancels.next_json())["run_id"] == run_id


async def test_delete_cancels_active_run(client, tap, names) -> None:
    sid = await new_session(client)
    run_id = (await say(client, sid, "/sleep 5")).json()["run_id"]
    cancels = await tap(names.control_exchange, f"cancel.{run_id}")
    assert (await client.delete(f"/ai/sessions/{sid}", headers=ALICE)).status_code == 204
    assert (await cancels.next_json())["run_id"] == run_id


async def test_message_validation(client) -> None:
    sid = await new_session(client)
    too_big = await say(client, sid, "x" * 32_001)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "message_too_large"
    for body, field in [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": "a", "on_busy": "never"}, "on_busy"),
    ]:
        response = await client.post(f"/ai/sessions/{sid}/message", json=body, headers=ALICE)
        assert response.status_code == 422 and field in response.json()["error"]["message"]
    bad_client = await client.post(
        f"/ai/sessions/{sid}/message",
        json={"content": "a"},
        headers={**ALICE, "X-Client-Id": "a b"},
    )
    assert bad_client.status_code == 422
    got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert got["messages"] == [] and got["active_run"] is None


async def test_audio_in_voice_session(client, tap, names) -> None:
    text_sid = await new_session(client)
    voice_sid = await new_session(client, mode="voice")
    commands = await tap(names.commands_exchange, "run")
    wav = write_wav(bytes(3200), 16000)  # a tenth of a second of silence
    headers = {**ALICE, "Content-Type": "audio/wav", "X-Client-Id": "phone"}
    wrong = await client.post(f"/ai/sessions/{text_sid}/audio", content=wav, headers=headers)
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "not_voice_session"
    not_wav = await client.post(
        f"/ai/sessions/{voice_sid}/audio",
        content=wav,
        headers={**ALICE, "Content-Type": "text/plain"},
    )
    assert not_wav.status_code == 415
    ok = await client.post(f"/ai/sessions/{voice_sid}/audio", content=wav, headers=headers)
    assert ok.status_code == 202, ok.text
    request = await commands.next_json()
    import base64

    assert base64.b64decode(request["audio_b64"]) == wav and request["mode"] == "voice"
    assert request["client_id"] == "phone"


async def test_audio_that_is_not_a_readable_wav_is_refused_and_nothing_is_stored(client) -> None:
    sid = await new_session(client, mode="voice")
    headers = {**ALICE, "Content-Type": "audio/wav", "X-Client-Id": "phone"}
    url = f"/ai/sessions/{sid}/audio"
    wav = write_wav(bytes(32000), 16000)
    cases = [
        (b"ID3\x04\x00" + bytes(2000), 415, "unsupported_media_type", "not a WAV file"),
        (b"OggS" + bytes(2000), 415, "unsupported_media_type", "not a WAV file"),
        (wav[: len(wav) // 2], 422, "bad_audio", "truncated"),
        (wav[:30], 422, "bad_audio", "truncated"),
    ]
    for body, status, code, problem in cases:
        answer = await client.post(url, content=body, headers=headers)
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert error["code"] == code and problem in error["message"], error
    got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert got["messages"] == [] and got["active_run"] is None
    query = "SELECT count(*) AS n FROM runs WHERE session_id = $1"
    assert (await fetch(client.database_url, query, sid))[0]["n"] == 0


async def test_a_message_while_the_run_is_active_is_refused_without_a_fixed_grace(
    client,
) -> None:
    """409 `run_active` as soon as ingest has stored past the request's mark (the run's end is
    not on the stream: the refusal is genuine), not after a fixed grace. A message right after
    a `run_end` the service had not stored yet: tests/session/test_read_your_writes.py."""
    sid = await new_session(client)
    first = await say(client, sid, "one")
    assert first.status_code == 202, first.text
    start = time.monotonic()
    second = await say(client, sid, "two")
    seconds = time.monotonic() - start
    assert second.status_code == 409 and second.json()["error"]["code"] == "run_active"
    assert seconds < 6.0, seconds  # INGEST_WAIT_S is 8 s


async def test_the_run_request_carries_the_conversation_within_its_budget(
    make_app, publish, tap, names
) -> None:
    # two messages of history at most (shipped: 100), so that four messages cut one
    client = await make_app(HISTORY_MAX_MESSAGES=2)
    sid = await new_session(client)
    commands = await tap(names.commands_exchange, "run")
    runs = [
        (await say(client, sid, text, on_busy="enqueue")).json() for text in ("a", "b", "c", "d")
    ]
    requests = []
    for accepted in runs:
        request = await commands.next_json()
        assert request["run_id"] == accepted["run_id"]
        requests.append(request)
        await end_run(publish, sid, accepted["run_id"])
    assert [r["history"] for r in requests[:2]] == [[], [{"role": "user", "content": "a"}]]
    assert requests[3]["history"] == [
        {"role": "user", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert [r["history_dropped"] for r in requests] == [0, 0, 0, 1]
