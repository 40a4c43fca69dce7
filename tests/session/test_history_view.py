"""What a page needs to render history as it rendered the live run: session titles in the
list, and each run's outcome (status, partial text, notices) next to the messages."""

import pytest
from switchboard_events import make_event

from tests.conftest import wait_until
from tests.session.conftest import auth
from tests.session.test_runs import ALICE, end_run, new_session, say

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.timeout(60)]


async def test_sessions_are_listed_with_their_first_message_as_title(client) -> None:
    empty = await new_session(client)
    chatty = await new_session(client)
    assert (await say(client, chatty, "Plan a trip to Lisbon " + "x" * 100)).status_code == 202
    listed = (await client.get("/ai/sessions", headers=ALICE)).json()["items"]
    titles = {s["id"]: s["title"] for s in listed}
    assert titles[chatty] == ("Plan a trip to Lisbon " + "x" * 100)[:80]
    assert titles[empty] is None
    detail = (await client.get(f"/ai/sessions/{chatty}", headers=ALICE)).json()
    assert detail["title"] == titles[chatty]
    others = (await client.get("/ai/sessions", headers=auth("bob"))).json()["items"]
    assert others == []


async def test_history_carries_each_runs_outcome_and_the_senders_device(client, publish) -> None:
    sid = await new_session(client)
    run = (await say(client, sid, "/tokens 3")).json()
    events = [
        ("run_start", {"message_id": run["message_id"]}),
        ("agent_switch", {"from": "personal", "to": "travel", "reason": "asked"}),
        ("token", {"token": "t1 "}),
        ("error", {"code": "boom", "message": "it broke"}),
    ]
    for seq, (kind, data) in enumerate(events, start=1):
        envelope = {"session_id": sid, "run_id": run["run_id"], "seq": seq, "agent_type": "travel"}
        await publish(make_event(kind, data, **envelope))
    await end_run(publish, sid, run["run_id"], "failed")

    async def folded() -> bool:  # run_end is stored by one consumer, the notices by another
        got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
        runs = got["runs"]
        return bool(runs) and runs[0]["status"] == "failed" and len(runs[0]["notices"]) == 2

    await wait_until(folded)
    got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    assert got["messages"][0]["client_id"] == "web-1"
    (outcome,) = got["runs"]
    assert outcome["id"] == run["run_id"] and outcome["message_id"] == run["message_id"]
    assert (outcome["agent_type"], outcome["text"]) == ("travel", "t1 ")
    assert [n["type"] for n in outcome["notices"]] == ["agent_switch", "error"]
    assert outcome["notices"][1]["data"] == {"code": "boom", "message": "it broke"}
