"""Issue 25, finding 1: the WebSocket upgrade request under the limits REST has, from a raw
socket. Before, websockets' handshake parser read the upgrade again with limits of its own
(8 KiB a line, 128 header lines) and uvicorn wrote nothing when it refused: no answer, the
socket open for good (1 500 of them held 1 500 fds), and a token REST takes refused there.
Now: the upgrade has REST's limits (431 past MAX_HEADER_BYTES, 408 past HEADER_TIMEOUT_S),
a head within them is answered 101, and any upgrade the handshake refuses gets a 4xx and is
closed. Shipped defaults; the module's stack has JWT_AUDIENCE (tokens.good)."""

import asyncio

import httpx
import jwt
import pytest
from switchboard_edge.auth import DEFAULT_SECRET
from switchboard_events import BrokerSettings

from tests.security.rawhttp import open_fds
from tests.security.rawws import answer_status, first_text, send_head, upgrade_head
from tests.security.tokens import claims, good
from tests.security.wsclient import close_code_of, ws_base
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

PAST_THE_PARSER = {
    "a 9 KiB header line": [f"X-Pad: {'a' * 9216}"],
    "130 header lines": [f"X-Line-{i}: v" for i in range(130)],
}
"""Heads within REST's limits that websockets' own parser (8 KiB, 128 lines) refused."""


def _port(stack: Stack) -> int:
    return int(stack.url.rsplit(":", 1)[1])


async def _session(stack: Stack, token: str) -> str:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        created = await http.post(
            "/ai/sessions",
            json={"agent_type": "personal"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert created.status_code == 201, created.text[:300]
    return str(created.json()["id"])


@pytest.mark.parametrize("lines", PAST_THE_PARSER.values(), ids=PAST_THE_PARSER.keys())
async def test_an_upgrade_within_rest_limits_is_answered(
    secure: tuple[Stack, BrokerSettings], lines: list[str]
) -> None:
    """101, then (no token) the auth deadline's close 4401, like any upgrade without one."""
    stack, _ = secure
    sid = await _session(stack, good("alice"))
    reader, writer = await send_head(_port(stack), upgrade_head(f"/ai/ws/{sid}", *lines))
    try:
        async with asyncio.timeout(30):
            assert await answer_status(reader) == 101
            assert await first_text(reader) == 4401
    finally:
        writer.close()


async def test_a_long_token_rest_takes_is_taken_on_the_upgrade(
    secure: tuple[Stack, BrokerSettings],
) -> None:
    """A 44 KB token (REST takes it: within MAX_HEADER_BYTES, 64 KiB): in the upgrade's
    Authorization header, with 130 other header lines, and in the auth frame, the device gets
    its hello."""
    stack, _ = secure
    token = jwt.encode(claims("bob", pad="p" * 32 * 1024), DEFAULT_SECRET, algorithm="HS256")
    sid = await _session(stack, token)
    head = upgrade_head(
        f"/ai/ws/{sid}?client_id=header",
        f"Authorization: Bearer {token}",
        *PAST_THE_PARSER["130 header lines"],
    )
    reader, writer = await send_head(_port(stack), head)
    try:
        async with asyncio.timeout(30):
            assert await answer_status(reader) == 101
            hello = await first_text(reader)
        assert isinstance(hello, dict) and hello["type"] == "connected", hello
    finally:
        writer.close()
    url = f"{ws_base(stack.url)}/ai/ws/{sid}?client_id=frame"
    assert await close_code_of(url, token) is None


REFUSED = {
    "a body (Content-Length)": (["Content-Length: 5"], b"hello", 400),
    "a body (chunked)": (["Transfer-Encoding: chunked"], b"0\r\n\r\n", 400),
    "a head past MAX_HEADER_BYTES": ([f"X-Pad: {'a' * 70_000}"], b"", 431),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_a_refused_upgrade_is_answered_and_closed(
    secure: tuple[Stack, BrokerSettings], case: tuple[list[str], bytes, int]
) -> None:
    stack, _ = secure
    lines, body, status = case
    reader, writer = await send_head(_port(stack), upgrade_head("/ai/ws/s1", *lines) + body)
    try:
        async with asyncio.timeout(30):
            assert await answer_status(reader) == status
            await reader.read()  # then closed: the read ends
    finally:
        writer.close()


async def test_a_half_sent_upgrade_is_answered_408_and_closed(
    secure: tuple[Stack, BrokerSettings],
) -> None:
    """Within HEADER_TIMEOUT_S (10 s) of its first byte, as a half-sent REST request."""
    stack, _ = secure
    reader, writer = await send_head(_port(stack), upgrade_head("/ai/ws/s1")[:-20])
    try:
        async with asyncio.timeout(30):
            assert await answer_status(reader) == 408
            await reader.read()
    finally:
        writer.close()


async def test_upgrades_past_the_parser_release_their_sockets(
    secure: tuple[Stack, BrokerSettings],
) -> None:
    """300 upgrades with a 9 KiB header line and no token: each is answered and closed, the
    gateway's fds come back, and a bystander is served meanwhile (the probe's 1 500 stayed)."""
    stack, _ = secure
    pid = stack.processes["gateway"].proc.pid  # type: ignore[union-attr]
    baseline = open_fds(pid)
    sid = await _session(stack, good("carol"))
    head = upgrade_head(f"/ai/ws/{sid}", *PAST_THE_PARSER["a 9 KiB header line"])
    streams = [await send_head(_port(stack), head) for _ in range(300)]
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
            seen = await http.get("/ai/sessions", headers={"Authorization": f"Bearer {good()}"})
        assert seen.status_code == 200
        async with asyncio.timeout(60):
            codes = await asyncio.gather(*(_closed(reader) for reader, _ in streams))
        assert set(codes) == {4401}, codes
    finally:
        for _, writer in streams:
            writer.close()
    async with asyncio.timeout(30):
        while open_fds(pid) > baseline + 10:
            await asyncio.sleep(0.1)


async def _closed(reader: asyncio.StreamReader) -> int | dict[str, object]:
    """The close code after a 101, once the server has also closed the TCP connection."""
    assert await answer_status(reader) == 101
    code = await first_text(reader)
    await reader.read()
    return code
