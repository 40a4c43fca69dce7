"""The Python SDK (as its README describes it) opened mid-run: a RunCatchUp with the answer so
far, then the live tail, together the whole text."""

import pytest
from switchboard_client import RunCatchUp, StreamOptions, SwitchboardClient

from tests.catchup.device import Device
from tests.catchup.test_late_joiners import stack  # noqa: F401 - the fixture
from tests.conftest import wait_until
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


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.timeout(180)
async def test_joining_a_long_answer_gets_its_tail_and_the_sdk_reads_the_head(
    stack: Stack,  # noqa: F811
) -> None:
    """Issue 25, finding 7: `active_run.text` is at most CATCHUP_TEXT_CHARS (16 000) characters,
    the tail, `text_offset` saying where it starts; `run_text` reads the head, and the SDK's
    stream does so itself unless told not to (`whole_catch_up=False`)."""
    token = await SwitchboardClient.dev_token("judy", stack.url)
    async with SwitchboardClient(stack.url, token) as client:
        session = await client.create_session(agent_type="personal", client_id="first")
        sid = session["id"]
        first = Device(stack.url, sid, "first", token)
        await first.connect()
        accepted = await client.send_message(sid, "/tokens 6000 rate=200")
        run_id = accepted["run_id"]
        await first.until(run_id, tokens=3200)  # past 16 000 characters ("t1234 ")
        tail_only = StreamOptions(whole_catch_up=False)
        async with client.events(sid, client_id="tail", options=tail_only) as stream:
            async for item in stream:
                assert isinstance(item, RunCatchUp), item
                assert 0 < len(item.text) <= 16_000 and item.text_offset > 0
                head = await client.run_text(sid, run_id, end=item.text_offset)
                assert len(head) == item.text_offset
                so_far = words(head + item.text)
                assert so_far == [f"t{i}" for i in range(1, len(so_far) + 1)]
                break
        text = ""
        async with client.events(sid, client_id="whole") as stream:
            async for item in stream:
                if isinstance(item, RunCatchUp):
                    assert item.text_offset == 0 and len(item.text) > 16_000
                    text = item.text
                elif item.type == "token" and item.run_id == run_id:
                    text += item.data.token
                elif item.type == "run_end" and item.run_id == run_id:
                    break
    assert words(text) == [f"t{i}" for i in range(1, 6001)]
    await first.close()


@pytest.mark.timeout(120)
async def test_the_sdk_reads_a_long_answer_whole_from_a_history_page(
    stack: Stack,  # noqa: F811
) -> None:
    """Issue 25, finding 2: a page cuts a content past HISTORY_CONTENT_CHARS (32 000) to its
    head (`truncated`), and a run outcome's text too;
    `message_content` and `get_session(full_texts=True)` read them whole."""
    token = await SwitchboardClient.dev_token("kim", stack.url)
    expected = [f"t{i}" for i in range(1, 7001)]  # about 41 000 characters
    async with SwitchboardClient(stack.url, token) as client:
        session = await client.create_session(agent_type="personal", client_id="only")
        sid = session["id"]
        async with client.events(sid, client_id="only") as stream:
            await client.send_message(sid, "/tokens 7000 rate=0")
            async for item in stream:
                if item.type == "run_end":
                    break

        async def stored() -> bool:  # the answer is stored a moment after run_end
            messages = (await client.get_session(sid))["messages"]
            return any(m["role"] == "assistant" for m in messages)

        await wait_until(stored, timeout=30)
        page = await client.get_session(sid)
        answer = next(m for m in page["messages"] if m["role"] == "assistant")
        assert answer["truncated"] and len(answer["content"]) == 32_000
        assert words(await client.message_content(sid, answer["id"])) == expected
        (outcome,) = page["runs"]
        assert outcome["truncated"] and outcome["text"] == answer["content"]
        whole = await client.get_session(sid, full_texts=True)
        answer = next(m for m in whole["messages"] if m["role"] == "assistant")
        assert not answer["truncated"] and words(answer["content"]) == expected
        assert not whole["runs"][0]["truncated"] and words(whole["runs"][0]["text"]) == expected
