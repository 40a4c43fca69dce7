"""The Python SDK (as its README describes it) opened mid-run: a RunCatchUp with the answer so
far, then the live tail, together the whole text."""

import pytest
from switchboard_client import RunCatchUp, SwitchboardClient

from tests.catchup.device import Device
from tests.catchup.test_late_joiners import stack  # noqa: F401 - the fixture
from tests.stack import Stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e]


@pytest.mark.timeout(90)
async def test_the_sdk_joining_mid_run_yields_the_answer_so_far_then_the_tail(
    stack: Stack,  # noqa: F811
) -> None:
    token = await SwitchboardClient.dev_token("ivan", stack.url)
    async with SwitchboardClient(stack.url, token) as client:
        session = await client.create_session(agent_type="personal", client_id="first")
        first = Device(stack.url, session["id"], "first", token)
        await first.connect()
        accepted = await client.send_message(session["id"], "/tokens 600 rate=100")
        run_id = accepted["run_id"]
        await first.until(run_id, tokens=100)
        text = ""
        async with client.events(session["id"], client_id="phone") as stream:
            async for item in stream:
                if isinstance(item, RunCatchUp):
                    assert item.run_id == run_id and item.seq >= 100
                    text = item.text
                elif item.type == "token" and item.run_id == run_id:
                    text += item.data.token
                elif item.type == "run_end" and item.run_id == run_id:
                    break
                else:
                    assert item.type in ("thinking", "response"), item
    assert text.split() == [f"t{i}" for i in range(1, 601)]
    await first.close()
