"""A decision that races the transaction storing its call's row is taken, not refused.

A device sees a `tool_call` on its stream while the session service may still be committing
the call's approval row. Under READ COMMITTED the decision's conditional UPDATE does not see a
row not yet committed, while the look that follows it (after the commit) finds it `pending`:
that call was never decided, and refusing it 409 `already_decided` ("timed out") left the run
waiting for APPROVAL_TIMEOUT_S (seen in tests/client_ts cancel.mjs under load)."""

from datetime import UTC, datetime, timedelta

import pytest
from switchboard_events import make_event
from switchboard_session.store import approvals

from tests.conftest import wait_until
from tests.session.conftest import auth, fetch

pytestmark = [pytest.mark.db, pytest.mark.broker]
ALICE = auth("alice")


async def test_a_decision_racing_the_calls_commit_is_taken(client, publish, monkeypatch) -> None:
    sid = (await client.post("/ai/sessions", json={}, headers=ALICE)).json()["id"]
    body = {"content": "/approve echo"}
    run = (await client.post(f"/ai/sessions/{sid}/message", json=body, headers=ALICE)).json()
    expires = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    call = {"call_id": "c1", "tool_name": "echo", "parameters": {}}
    call |= {"requires_approval": True, "approval_expires_at": expires}
    await publish(make_event("tool_call", call, session_id=sid, run_id=run["run_id"], seq=2))

    async def stored() -> bool:
        return bool(await fetch(client.database_url, "SELECT 1 FROM tool_approvals"))

    await wait_until(stored)
    decide, missed = approvals.decide, []

    async def racing(db, **kwargs):  # type: ignore[no-untyped-def]
        """The first UPDATE ran before the row's transaction committed: it saw no row."""
        if not missed:
            missed.append(kwargs["call_id"])
            return None
        return await decide(db, **kwargs)

    monkeypatch.setattr(approvals, "decide", racing)
    decision = {"call_id": "c1", "approve": True}
    got = await client.post(f"/ai/sessions/{sid}/tool_decisions", json=decision, headers=ALICE)
    assert got.status_code == 202, got.text
    assert missed == ["c1"] and got.json()["status"] == "approved"
    rows = await fetch(client.database_url, "SELECT status FROM tool_approvals")
    assert [r["status"] for r in rows] == ["approved"]
    again = await client.post(f"/ai/sessions/{sid}/tool_decisions", json=decision, headers=ALICE)
    assert again.status_code == 409 and "already approved" in again.text
