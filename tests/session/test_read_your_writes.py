"""A device sees events on its shard stream before the session service has stored them; a
request whose answer depends on them waits until ingest has stored past a mark, then answers
exactly (docs/internals.md, "Read your writes").

Ingest is held back for real (tests/held.py: a second connection locks the shard's
`stream_offsets` row, or holds the ingest lock), so the lag is as long as the test wants, not
a matter of load. Each
test sees the service's mark on the stream while ingest is held and checks the request is
still waiting, then lets ingest go and checks the answer and that the stored offset is past
the mark (a mark is never stored as an event)."""

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from switchboard_events import BrokerSettings, make_event

from tests.conftest import wait_until
from tests.held import ingest_held, ingest_unowned, stream_of
from tests.session.conftest import StreamTap, auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.timeout(60)]
ALICE = auth("alice")
INGEST_WAIT_S = 8.0
"""INGEST_WAIT_S's default."""


async def _busy_session(client: httpx.AsyncClient) -> tuple[str, str]:
    """A session whose run is active (no worker: the test publishes the run's events)."""
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    sent = await client.post(f"/ai/sessions/{sid}/message", json={"content": "hi"}, headers=ALICE)
    assert sent.status_code == 202, sent.text
    return sid, str(sent.json()["run_id"])


async def _waits_for_the_mark(
    tap: StreamTap, request: Awaitable[httpx.Response]
) -> tuple["asyncio.Future[httpx.Response]", int]:
    """Send `request` while ingest is held (what was published before it is not stored yet):
    it publishes a mark on the shard and is still waiting when the mark is on the stream. The
    request, and the mark's offset."""
    task = asyncio.ensure_future(request)
    offset, _ = await tap.next_mark()
    assert not task.done(), task.result().text
    return task, offset


async def _stored_offset(database_url: str, stream: str) -> int:
    rows = await fetch(
        database_url, 'SELECT "offset" FROM stream_offsets WHERE stream = $1', stream
    )
    return int(rows[0]["offset"])


async def _answer(task: "asyncio.Future[httpx.Response]") -> tuple[httpx.Response, float]:
    """The request's answer once ingest goes on, and the seconds it took from then."""
    start = time.monotonic()
    answer = await asyncio.wait_for(task, 20)
    return answer, time.monotonic() - start


async def test_a_message_right_after_run_end_is_taken_once_ingest_catches_up(
    make_app, publish, stream_tap, database_url: str, broker_settings: BrokerSettings
) -> None:
    """Ingest held back by owning its lock (a message locks the session row, which a held
    ingest transaction would hold already: tests/held.py)."""
    async with ingest_unowned(database_url, broker_settings.broker_prefix):
        client = await make_app()
        sid, run_id = await _busy_session(client)
        tap = await stream_tap(sid)
        await publish(
            make_event("run_end", {"status": "completed"}, session_id=sid, run_id=run_id, seq=2)
        )
        await tap.event_of_type("run_end")  # what a device sees
        body = {"content": "next"}
        post = client.post(f"/ai/sessions/{sid}/message", json=body, headers=ALICE)
        task, mark_offset = await _waits_for_the_mark(tap, post)
    answer, _ = await _answer(task)
    assert answer.status_code == 202, answer.text
    stored = await _stored_offset(database_url, stream_of(broker_settings, sid))
    assert stored >= mark_offset  # stored past the mark


def _tool_call(sid: str, run_id: str, call_id: str) -> Any:
    expires = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    call = {"call_id": call_id, "tool_name": "echo", "parameters": {}}
    call |= {"requires_approval": True, "approval_expires_at": expires}
    return make_event("tool_call", call, session_id=sid, run_id=run_id, seq=2)


async def _decide_seen_call(
    client: httpx.AsyncClient,
    publish: Any,
    tap: StreamTap,
    held: Any,
    sid: str,
    run_id: str,
    *,
    approve: bool,
) -> httpx.Response:
    """With ingest `held`: a tool call goes onto the stream (the device sees it), the decision
    for it is posted and waits for the service's mark; the answer once ingest is let go."""
    async with held:
        await publish(_tool_call(sid, run_id, "c1"))
        await tap.event_of_type("tool_call")
        decision = {"call_id": "c1", "approve": approve}
        post = client.post(f"/ai/sessions/{sid}/tool_decisions", json=decision, headers=ALICE)
        task, _ = await _waits_for_the_mark(tap, post)
    answer, _ = await _answer(task)
    return answer


async def _waits_stored(client: httpx.AsyncClient) -> float:
    """`session_ingest_waits_total{outcome="stored"}` of this process: waits ended by notice."""
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith('session_ingest_waits_total{outcome="stored"}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_decision_for_a_call_seen_on_the_stream_is_taken(
    client, publish, stream_tap, database_url: str, broker_settings: BrokerSettings
) -> None:
    sid, run_id = await _busy_session(client)
    tap = await stream_tap(sid)
    held = ingest_held(database_url, stream_of(broker_settings, sid))
    answer = await _decide_seen_call(client, publish, tap, held, sid, run_id, approve=True)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "approved"


async def test_an_unknown_call_is_404_as_soon_as_the_mark_is_stored(
    client, stream_tap, database_url: str, broker_settings: BrokerSettings
) -> None:
    """Not after INGEST_WAIT_S: the mark says the call was never on the stream."""
    sid, _ = await _busy_session(client)
    tap = await stream_tap(sid)
    notices = await _waits_stored(client)
    async with ingest_held(database_url, stream_of(broker_settings, sid)):
        decision = {"call_id": "nosuchcall", "approve": True}
        post = client.post(f"/ai/sessions/{sid}/tool_decisions", json=decision, headers=ALICE)
        task, _ = await _waits_for_the_mark(tap, post)
    answer, seconds = await _answer(task)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_call"
    assert seconds < INGEST_WAIT_S * 3 / 4, seconds
    assert await _waits_stored(client) == notices + 1  # ended by ingest's notice, not the cap


async def test_a_replica_not_owning_ingest_hears_it_from_the_owner(
    make_app, publish, stream_tap, database_url: str, broker_settings: BrokerSettings
) -> None:
    """Two replicas: the request goes to the one that does not ingest; the owner's notice
    (Postgres NOTIFY at its commit) ends the wait."""
    clients = [await make_app(), await make_app()]
    owner: list[int] = []

    async def owned() -> bool:
        for i, replica in enumerate(clients):
            if "session_ingest_owner 1.0" in (await replica.get("/metrics")).text:
                owner[:] = [i]
                return True
        return False

    await wait_until(owned, timeout=20)
    other = clients[1 - owner[0]]
    sid, run_id = await _busy_session(other)
    tap = await stream_tap(sid)
    held = ingest_held(database_url, stream_of(broker_settings, sid))
    answer = await _decide_seen_call(other, publish, tap, held, sid, run_id, approve=False)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "denied"
