"""Issue 25 (a hostile probe), as a client would see it, against the whole stack with the
shipped defaults (no JWT_AUDIENCE): tokens meant for another service, look-alike users, the
longest message allowed, floods of tool decisions, refused tokens in the audit log."""

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from switchboard_edge.auth import DEFAULT_SECRET
from switchboard_stack import asyncpg_dsn

from tests.held import ingest_held, stream_of
from tests.security.conftest import isolated_stack
from tests.security.wsclient import close_code_of, ws_base
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

EMOJI = "\U0001f600"
MAX_MESSAGE_CHARS = 32_000
PENDING_CAP = 4
"""MAX_PENDING_DECISIONS_PER_USER's default."""


@pytest.fixture(scope="module")
async def plain(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    async with isolated_stack(postgres_admin_url, amqp_url, {}) as (stack, _):
        yield stack


def token(sub: str, **extra: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600, **extra}, DEFAULT_SECRET)


def bearer(sub: str, **extra: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **extra)}"}


async def _session(http: httpx.AsyncClient, user: str) -> str:
    created = await http.post("/ai/sessions", json={"agent_type": "personal"}, headers=bearer(user))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


async def test_a_token_for_another_audience_is_refused_without_jwt_audience(plain: Stack) -> None:
    async with httpx.AsyncClient(base_url=plain.url, timeout=15) as http:
        sid = await _session(http, "alice")
        elsewhere = await http.get("/ai/sessions", headers=bearer("alice", aud="billing"))
    assert elsewhere.status_code == 403 and _code(elsewhere) == "forbidden", elsewhere.text
    url = f"{ws_base(plain.url)}/ai/ws/{sid}"
    assert await close_code_of(url, token("alice", aud="billing")) == 4403
    assert await close_code_of(url, token("alice")) is None


@pytest.mark.parametrize("sub", ["bob\u200b", "\u200dbob", "bo\u202eb", "bob\u00ad", "bo\x07b"])
async def test_a_subject_with_invisible_characters_is_refused(plain: Stack, sub: str) -> None:
    async with httpx.AsyncClient(base_url=plain.url, timeout=15) as http:
        sid = await _session(http, "bob")
        refused = await http.get("/ai/sessions", headers=bearer(sub))
    assert refused.status_code == 401 and _code(refused) == "unauthenticated"
    assert f"U+{ord(next(c for c in sub if not c.isalpha())):04X}" in refused.text
    assert await close_code_of(f"{ws_base(plain.url)}/ai/ws/{sid}", token(sub)) == 4401


async def test_a_fullwidth_subject_is_the_same_user(plain: Stack) -> None:
    async with httpx.AsyncClient(base_url=plain.url, timeout=15) as http:
        sid = await _session(http, "carol")
        fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "carol")  # NFKC: "carol"
        answer = await http.get(f"/ai/sessions/{sid}", headers=bearer(fullwidth))
    assert answer.status_code == 200, answer.text
    assert answer.json()["user_id"] == "carol"


async def test_the_longest_message_allowed_fits_in_a_body(plain: Stack) -> None:
    """MAX_MESSAGE_CHARS emoji, JSON-escaped as a client's encoder does (12 bytes each,
    384 000 bytes): accepted by the gateway and the session service; one more is 413
    `message_too_large`, the character limit's answer."""
    longest = json.dumps({"content": EMOJI * MAX_MESSAGE_CHARS})
    over = json.dumps({"content": EMOJI * (MAX_MESSAGE_CHARS + 1)})
    for user, base in (("dave", plain.url), ("erin", plain.session_url)):
        headers = {**bearer(user), "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            sid = await _session(http, user)
            sent = await http.post(f"/ai/sessions/{sid}/message", content=longest, headers=headers)
            assert sent.status_code == 202, (base, sent.text[:300])
            await http.post(f"/ai/sessions/{sid}/cancel", headers=headers)
            refused = await http.post(f"/ai/sessions/{sid}/message", content=over, headers=headers)
            assert refused.status_code == 413, (base, refused.text[:300])
            assert _code(refused) == "message_too_large"


async def _busy_session(http: httpx.AsyncClient, user: str) -> tuple[str, str]:
    """A session of `user` whose run is active (a 60 s sleep, cancelled by the caller)."""
    sid = await _session(http, user)
    sent = await http.post(
        f"/ai/sessions/{sid}/message", json={"content": "/sleep 60"}, headers=bearer(user)
    )
    assert sent.status_code == 202, sent.text
    return sid, str(sent.json()["run_id"])


async def _decide(http: httpx.AsyncClient, user: str, sid: str, call_id: str) -> httpx.Response:
    body = {"call_id": call_id, "approve": True}
    return await http.post(f"/ai/sessions/{sid}/tool_decisions", json=body, headers=bearer(user))


async def test_a_decision_takes_no_lock_on_the_session_row(plain: Stack) -> None:
    """While the session row is locked (here by the test; in the probe by other decisions),
    a decision for a call not stored yet is still answered: 404 `unknown_call` once ingest
    has stored past its mark (or, if ingest itself waits for the lock, after INGEST_WAIT_S),
    not a wait for the lock."""
    db = await asyncpg.connect(asyncpg_dsn(plain.env["DATABASE_URL"]))
    async with httpx.AsyncClient(base_url=plain.url, timeout=30) as http:
        sid, _ = await _busy_session(http, "frank")
        lock = db.transaction()
        await lock.start()
        try:
            await db.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", sid)
            async with asyncio.timeout(20):
                answer = await _decide(http, "frank", sid, "01UNKNOWNCALL")
        finally:
            await lock.rollback()
            await db.close()
        await http.post(f"/ai/sessions/{sid}/cancel", headers=bearer("frank"))
    assert answer.status_code == 404 and _code(answer) == "unknown_call", answer.text


async def test_decisions_waiting_for_their_call_are_capped_per_user(plain: Stack) -> None:
    """12 decisions at once for unknown calls of an active run, while the session's shard's
    ingest is held back (tests/held.py): PENDING_CAP of them wait for ingest, the others are
    429 `too_many_pending_decisions` at once; a bystander's REST is served meanwhile. Once
    ingest goes on, the waiting ones are 404 `unknown_call`. The 12 go to the session service
    itself: through a gateway, its own cap (REST_REQUESTS_PER_USER, 8 in flight) refuses some
    first."""
    limits = httpx.Limits(max_connections=50)
    async with (
        httpx.AsyncClient(base_url=plain.url, timeout=30, limits=limits) as http,
        httpx.AsyncClient(base_url=plain.session_url, timeout=30, limits=limits) as direct,
    ):
        sid, _ = await _busy_session(http, "grace")
        async with ingest_held(plain.env["DATABASE_URL"], stream_of(plain.broker, sid)):
            flood = [
                asyncio.ensure_future(_decide(direct, "grace", sid, f"01UNKNOWN{i:04d}"))
                for i in range(12)
            ]
            refused = await _first(flood, 12 - PENDING_CAP)
            seen = await http.get("/ai/sessions", headers=bearer("heidi"))
        answers = await asyncio.gather(*flood)
        await http.post(f"/ai/sessions/{sid}/cancel", headers=bearer("grace"))
    assert {_code(answer) for answer in refused} == {"too_many_pending_decisions"}
    codes = Counter(_code(answer) for answer in answers)
    assert codes == {"unknown_call": PENDING_CAP, "too_many_pending_decisions": 12 - PENDING_CAP}
    assert "MAX_PENDING_DECISIONS_PER_USER" in refused[0].text and refused[0].headers["Retry-After"]
    assert seen.status_code == 200


async def _first(
    requests: list["asyncio.Future[httpx.Response]"], count: int
) -> list[httpx.Response]:
    """The first `count` answers of `requests`, in the order they came."""
    got: list[httpx.Response] = []
    pending = set(requests)
    async with asyncio.timeout(20):
        while len(got) < count:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            got.extend(task.result() for task in done)
    return got[:count]


TUNED = {
    # the sweeper writes refusal counts and prunes every second, for windows of a second:
    # the test waits a second or two instead of minutes
    "AUDIT_REFUSED_WINDOW_S": "1",
    "SWEEP_INTERVAL_S": "1",
    # 2 decisions a second, not 20: this machine (2 shared cores) answers about 13 a second
    # through the gateway, so the shipped 20 would never be reached by a test
    "RATE_LIMIT_DECISIONS_PER_S": "2",
}


@pytest.fixture(scope="module")
async def tuned(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    async with isolated_stack(postgres_admin_url, amqp_url, TUNED) as (stack, _):
        yield stack


async def test_decisions_have_a_rate_limit_of_their_own(tuned: Stack) -> None:
    """30 decisions at once from one user: past RATE_LIMIT_DECISIONS_PER_S in a second they
    are 429 `rate_limited` (before: 120 a minute, shared with messages, so the probe's 120
    per account all went through); a message of the same user is not refused for them. The 30
    go to the session service itself: a gateway refuses past 8 in flight of one user first."""
    async with (
        httpx.AsyncClient(base_url=tuned.url, timeout=30) as http,
        httpx.AsyncClient(base_url=tuned.session_url, timeout=30) as direct,
    ):
        sid = await _session(http, "ivan")
        answers = await asyncio.gather(
            *(_decide(direct, "ivan", sid, f"01UNKNOWN{i:04d}") for i in range(30))
        )
        sent = await http.post(
            f"/ai/sessions/{sid}/message", json={"content": "hi"}, headers=bearer("ivan")
        )
    codes = Counter(_code(answer) for answer in answers)
    assert set(codes) == {"unknown_call", "rate_limited"}, codes
    assert "2 tool decisions in 1s" in next(a for a in answers if a.status_code == 429).text
    assert sent.status_code == 202, sent.text


async def _count(stack: Stack, query: str, *args: Any) -> int:
    db = await asyncpg.connect(asyncpg_dsn(stack.env["DATABASE_URL"]))
    try:
        return int(await db.fetchval(query, *args) or 0)
    finally:
        await db.close()


REFUSED_ROWS = "SELECT count(*) FROM audit_log WHERE action = 'auth.failed'"
REFUSED_TOTAL = (
    "SELECT coalesce(sum(coalesce((detail->>'repeats')::int, 0) + "
    "(CASE WHEN detail ? 'repeats' THEN 0 ELSE 1 END)), 0) "
    "FROM audit_log WHERE action = 'auth.failed'"
)
"""The refusals the rows stand for: a row without `repeats` is one, a summary its count."""


async def _refuse(stack: Stack, count: int) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        for _ in range(count):
            answer = await http.get("/ai/sessions", headers={"Authorization": "Bearer nope"})
            assert answer.status_code == 401


async def test_refused_tokens_write_one_row_per_source_and_window(plain: Stack) -> None:
    before = await _count(plain, REFUSED_ROWS)
    await _refuse(plain, 200)
    assert await _count(plain, REFUSED_ROWS) - before <= 2  # was one row per request


async def test_refusals_are_counted_and_old_rows_pruned(tuned: Stack) -> None:
    """The counts of refusals reach the log, and a row older than AUDIT_RETENTION_S (90 days,
    the default) is deleted by the sweeper (the row is made here: a client cannot age one)."""
    insert = (
        "INSERT INTO audit_log (action, detail, at) "
        "VALUES ('old', '{}', now() - interval '91 days')"
    )
    db = await asyncpg.connect(asyncpg_dsn(tuned.env["DATABASE_URL"]))
    try:
        await db.execute(insert)
    finally:
        await db.close()
    await _refuse(tuned, 50)
    async with asyncio.timeout(30):
        while await _count(tuned, REFUSED_TOTAL) != 50:
            await asyncio.sleep(0.2)
        while await _count(tuned, "SELECT count(*) FROM audit_log WHERE action = 'old'"):
            await asyncio.sleep(0.2)
    assert await _count(tuned, REFUSED_ROWS) < 50
