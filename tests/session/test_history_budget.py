"""History pages have a byte budget (issue 25, findings 2 and 7): long contents are cut to their
head and read on in pieces (messages and run outcomes alike), a page stops adding messages
when its budget is used (its `messages_before` still pages on exactly), and a run's catch-up
text is its tail, its head read in pieces. Shipped defaults: HISTORY_PAGE_BYTES 1 MiB,
HISTORY_CONTENT_CHARS 32 000, CATCHUP_TEXT_CHARS 16 000."""

import json

import httpx
import pytest
from switchboard_events import make_event

from tests.conftest import wait_until
from tests.session.conftest import auth
from tests.session.test_runs import ALICE, new_session, say

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.timeout(120)]

PAGE_BYTES = 1024 * 1024
CONTENT_CHARS = 32_000
CATCHUP_CHARS = 16_000


def answer_text(n: int, chars: int) -> str:
    """A long answer whose every 1000-character block says where it is."""
    blocks = [f"[{n}:{i:06d}]".ljust(1000, "é") for i in range(chars // 1000)]
    return "".join(blocks)


async def read_all(client: httpx.AsyncClient, path: str) -> str:
    """A long text read piece by piece, following `next_offset`."""
    parts, offset = [], 0
    while offset is not None:
        piece = await client.get(path, params={"offset": offset}, headers=ALICE)
        assert piece.status_code == 200, piece.text
        body = piece.json()
        assert body["offset"] == offset and len(body["text"]) <= CONTENT_CHARS
        parts.append(body["text"])
        offset = body["next_offset"]
    return "".join(parts)


async def stored_answers(client, publish, sid: str, count: int, chars: int) -> list[str]:
    texts = []
    for n in range(count):
        run = (await say(client, sid, f"question {n}")).json()
        text = answer_text(n, chars)
        data = {"content": text, "message_id": f"answer-{n}"}
        await publish(make_event("response", data, session_id=sid, run_id=run["run_id"], seq=2))
        envelope = {"session_id": sid, "run_id": run["run_id"], "seq": 3}
        await publish(make_event("run_end", {"status": "completed"}, **envelope))
        texts.append(text)

        async def ended() -> bool:
            got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
            return got["active_run"] is None

        await wait_until(ended, timeout=30)
    return texts


async def test_a_long_answer_is_cut_in_the_page_and_read_whole_in_pieces(client, publish) -> None:
    sid = await new_session(client)
    (text,) = await stored_answers(client, publish, sid, 1, 100_000)
    page = await client.get(f"/ai/sessions/{sid}", headers=ALICE)
    answer = page.json()["messages"][-1]
    assert answer["role"] == "assistant" and answer["truncated"] is True
    assert answer["content"] == text[:CONTENT_CHARS]
    question = page.json()["messages"][0]
    assert question["truncated"] is False and question["content"] == "question 0"
    path = f"/ai/sessions/{sid}/messages/{answer['id']}/content"
    assert await read_all(client, path) == text
    piece = (await client.get(path, params={"offset": 99_990, "limit": 5}, headers=ALICE)).json()
    assert piece == {
        "offset": 99_990,
        "text": text[99_990:99_995],
        "total_chars": len(text),
        "next_offset": 99_995,
    }
    assert (await client.get(path, headers=auth("bob"))).status_code == 404
    missing = await client.get(f"/ai/sessions/{sid}/messages/nope/content", headers=ALICE)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "message_not_found"
    bad = await client.get(path, params={"offset": -1}, headers=ALICE)
    assert bad.status_code == 422


async def test_a_page_stops_at_its_byte_budget_and_pages_on_exactly(client, publish) -> None:
    sid = await new_session(client)
    texts = await stored_answers(client, publish, sid, 24, 60_000)  # 24 answers of 60 000 chars
    seen: list[dict] = []
    before = None
    pages = 0
    while True:
        params = {"messages_limit": 500, **({"before": before} if before else {})}
        page = await client.get(f"/ai/sessions/{sid}", params=params, headers=ALICE)
        assert page.status_code == 200
        assert len(page.content) <= PAGE_BYTES + 16_000  # the session's own fields besides
        body = page.json()
        seen = body["messages"] + seen
        pages += 1
        before = body["messages_before"]
        if before is None:
            break
        assert before == body["messages"][0]["seq"]
        assert len(page.content) > PAGE_BYTES // 2  # a page is filled, not cut short
    assert pages > 1  # 24 cut answers of ~32 000 é-heavy characters pass 1 MiB
    assert [m["seq"] for m in seen] == list(range(1, 49))  # every message once, in order
    answers = [m for m in seen if m["role"] == "assistant"]
    for message, text in zip(answers, texts, strict=True):
        assert message["truncated"] and message["content"] == text[:CONTENT_CHARS]


async def test_catch_up_text_is_the_tail_and_the_head_is_read_in_pieces(client, publish) -> None:
    sid = await new_session(client)
    run = (await say(client, sid, "/tokens 40")).json()
    envelope = {"session_id": sid, "run_id": run["run_id"]}
    await publish(make_event("run_start", {}, seq=1, **envelope))
    tokens = [f"<{i}>".ljust(1000, "x") for i in range(40)]  # 40 000 characters
    for seq, token in enumerate(tokens, start=2):
        await publish(make_event("token", {"token": token}, seq=seq, **envelope))
    whole = "".join(tokens)

    async def folded() -> bool:
        got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()["active_run"]
        return got is not None and got["seq"] == 41

    await wait_until(folded, timeout=60)
    active = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()["active_run"]
    assert active["text"] == whole[-CATCHUP_CHARS:]
    assert active["text_offset"] == len(whole) - CATCHUP_CHARS
    path = f"/ai/sessions/{sid}/runs/{run['run_id']}/text"
    head = await client.get(path, params={"limit": active["text_offset"]}, headers=ALICE)
    assert head.json()["text"] == whole[: active["text_offset"]]
    assert head.json()["next_offset"] == active["text_offset"]
    assert await read_all(client, path) == whole
    await publish(make_event("run_end", {"status": "cancelled"}, seq=42, **envelope))

    async def ended() -> bool:
        got = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
        return got["active_run"] is None and got["runs"][0]["status"] == "cancelled"

    await wait_until(ended, timeout=60)
    (outcome,) = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()["runs"]
    assert outcome["text"] == whole[:CONTENT_CHARS] and outcome["truncated"] is True
    rest = await client.get(path, params={"offset": CONTENT_CHARS}, headers=ALICE)
    assert outcome["text"] + rest.json()["text"] == whole
    foreign = await client.get(path, headers=auth("bob"))
    assert foreign.status_code == 404 and json.loads(foreign.text)["error"]["code"]


async def test_a_piece_offset_past_any_text_is_refused_or_empty_never_a_500(
    client, publish
) -> None:
    """Schemathesis found `offset=2147483647` overflowing Postgres' int4 `substr` (a 500)."""
    sid = await new_session(client)
    (text,) = await stored_answers(client, publish, sid, 1, 40_000)
    page = (await client.get(f"/ai/sessions/{sid}", headers=ALICE)).json()
    answer = page["messages"][-1]
    (run,) = page["runs"]
    paths = [
        f"/ai/sessions/{sid}/messages/{answer['id']}/content",
        f"/ai/sessions/{sid}/runs/{run['id']}/text",
    ]
    for path in paths:
        for offset, limit in ((2**31 - 1, 1), (0, 2**31 - 1)):
            got = await client.get(path, params={"offset": offset, "limit": limit}, headers=ALICE)
            assert got.status_code == 422, (path, offset, got.text)
        end = await client.get(path, params={"offset": 2**30, "limit": 2**30}, headers=ALICE)
        assert end.status_code == 200, end.text
        assert end.json()["text"] == "" and end.json()["next_offset"] is None
    assert len(text) == 40_000
