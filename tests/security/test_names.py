"""Injection and traversal in session ids and client ids: refused cleanly, nothing on the broker
named after them (no queue has a bad name), nothing crashes."""

import asyncio
import os
import re
import shutil
import subprocess
from urllib.parse import quote

import httpx
import pytest
import websockets
from switchboard_events import BrokerSettings

from tests.security.tokens import good
from tests.security.wsclient import close_code_of, rest, ws_base
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

BAD_IDS = {
    "traversal": "../../etc/passwd",
    "dotdot": "..",
    "hash": "a#b",
    "star": "*",
    "dot": "a.b",
    "topic_wildcards": "x.#.*",
    "unicode": "séance-☃",
    "long": "x" * 1000,
    "sql": "x' OR '1'='1; DROP TABLE sessions;--",
    "space": "a b",
    "control": "k\x04y",
    "empty_ish": "%00",
}
REFUSED_REST = {404, 422}
SESSION_CASES = [case for case in sorted(BAD_IDS)]


def _path(value: str) -> str:
    return quote(value, safe="")


@pytest.mark.parametrize("case", SESSION_CASES)
async def test_bad_session_id_is_refused(secure: tuple[Stack, BrokerSettings], case: str) -> None:
    stack, _ = secure
    bad = _path(BAD_IDS[case])
    for method in ("GET", "DELETE"):
        answer = await rest(stack.url, method, f"/ai/sessions/{bad}", good())
        assert answer.status_code in REFUSED_REST, (method, answer.status_code, answer.text)
    answer = await rest(
        stack.url, "POST", f"/ai/sessions/{bad}/message", good(), json={"content": "hi"}
    )
    assert answer.status_code in REFUSED_REST, answer.text
    try:
        code = await close_code_of(f"{ws_base(stack.url)}/ai/ws/{bad}", good())
    except websockets.InvalidStatus as refused:  # no route: refused before the upgrade
        assert refused.response.status_code in (403, 404)
    else:
        assert code == 4404


@pytest.mark.parametrize("case", sorted(BAD_IDS))
async def test_bad_client_id_is_refused(secure: tuple[Stack, BrokerSettings], case: str) -> None:
    stack, _ = secure
    sid = (await rest(stack.url, "POST", "/ai/sessions", good(), json={})).json()["id"]
    url = f"{ws_base(stack.url)}/ai/ws/{sid}?client_id={_path(BAD_IDS[case])}"
    assert await close_code_of(url, good()) == 4400
    body = {"agent_type": "personal", "client_id": BAD_IDS[case]}
    answer = await rest(stack.url, "POST", "/ai/sessions", good(), json=body)
    assert answer.status_code == 422, answer.text


async def test_no_queue_has_a_bad_name(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, broker = secure
    if os.geteuid() != 0 or shutil.which("rabbitmqctl") is None:
        pytest.skip("listing queues needs rabbitmqctl as root")
    listed = await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", "list_queues", "name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    prefix = re.escape(broker.broker_prefix)
    safe = re.compile(
        rf"{prefix}ai\.(runs|tools|run-progress|dead-letters\.(runs|tools|session-store)"
        rf"|stream\.[0-9]{{1,4}}|gateway\.[0-9a-f]{{32}})"
    )
    ours = [q for q in listed.stdout.split() if q.startswith(broker.broker_prefix)]
    assert ours, "no queue of this stack listed"
    assert [q for q in ours if not safe.fullmatch(q)] == []
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{stack.url}/ai/health")).status_code == 200


@pytest.mark.parametrize("field", ["metadata", "user_context"])
async def test_nul_in_json_body_is_refused(
    secure: tuple[Stack, BrokerSettings], field: str
) -> None:
    stack, _ = secure
    body = {"agent_type": "personal", field: {"k\u0000": "v\u0000"}}
    answer = await rest(stack.url, "POST", "/ai/sessions", good(), json=body)
    assert answer.status_code == 422, answer.text
