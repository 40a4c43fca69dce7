"""One user holding every run slot it may does not delay another user's run (issue 12, item 4).

The whole stack with its shipped defaults. The attacker asks for 8 sessions x `/sleep 40`
(the issue's attack: as many runs as a worker then took at once), gets
MAX_ACTIVE_RUNS_PER_USER of them and 429 `too_many_runs` for the rest; the bystander's
`/tokens 3` then completes long before any of those sleeps end.
"""

import asyncio

import httpx
import pytest

from tests.reliability.device import Device
from tests.reliability.helpers import bearer, create_session, send_message, token
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]
SLEEP_S = 40
BOUND_S = SLEEP_S / 2
"""Generous for a run that takes milliseconds unloaded, and still short of the sleeps."""


async def test_a_user_holding_runs_does_not_delay_another_users_run(stack: Stack) -> None:
    attacker, bob = token("mallory"), token("bob")
    sessions = [(await create_session(stack.url, attacker))["id"] for _ in range(8)]
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
            answers = await asyncio.gather(
                *(
                    http.post(
                        f"/ai/sessions/{sid}/message",
                        json={"content": f"/sleep {SLEEP_S}"},
                        headers=bearer(attacker),
                    )
                    for sid in sessions
                )
            )
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] * 3 + [429] * 5, [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.json()["error"]["code"] == "too_many_runs"
        assert int(refused.headers["Retry-After"]) >= 1

        sid = (await create_session(stack.url, bob))["id"]
        device = Device(sid, "web", bob)
        await device.connect(stack.url)
        run_id = (await send_message(stack.url, bob, sid, "/tokens 3"))["run_id"]
        await device.pump(lambda d: d.has_type("run_end", run_id), timeout=BOUND_S)
        events = device.run_events(run_id)
        assert [e["type"] for e in events].count("token") == 3
        assert events[-1]["data"]["status"] == "completed"
    finally:
        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
            for sid in sessions:  # cancels the sleeps, so the stack stops at once
                await http.delete(f"/ai/sessions/{sid}", headers=bearer(attacker))
