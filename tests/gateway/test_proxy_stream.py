"""The REST proxy streams answers and caps each user's requests in flight (issue 25, finding 2):
a client reads the first bytes of a large answer before the session service has sent the
rest; a client that goes away mid-body closes the upstream answer; an upstream that breaks
mid-body breaks the client's answer (never a short answer that looks whole); past
REST_REQUESTS_PER_USER (8) requests in flight one user gets 429
`too_many_concurrent_requests` with Retry-After while another user is served. A real gateway
process in front of a session service stand-in whose answers the test paces."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from switchboard_events import BrokerSettings
from switchboard_stack import free_port

from tests.gateway.helpers import Gateway, start_gateway, token
from tests.infra import isolated_broker

pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.timeout(90)]

CHUNK = b"x" * 65_536
PER_USER = 8


@dataclass
class PacedUpstream:
    """`GET /ai/sessions/{sid}`: CHUNK, then the rest once `release` is set (or a break when
    `breaks`); counts the bodies that ended or were abandoned."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    started: int = 0
    closed: int = 0
    breaks: bool = False
    endless: bool = False
    """The body never ends (CHUNK after CHUNK): only the reader's going away ends it."""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/ai/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/ai/sessions/{sid}")
        async def page(sid: str) -> StreamingResponse:
            return StreamingResponse(self._body(), media_type="application/json")

        return app

    async def _body(self) -> AsyncIterator[bytes]:
        self.started += 1
        try:
            yield CHUNK
            while self.endless:
                await asyncio.sleep(0.01)
                yield CHUNK
            await self.release.wait()
            if self.breaks:
                raise RuntimeError("upstream broke off")
            for _ in range(15):
                yield CHUNK
        finally:
            self.closed += 1


@contextlib.asynccontextmanager
async def serving(upstream: PacedUpstream) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(upstream.app(), port=port, log_level="critical"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def broker(amqp_url: str) -> AsyncIterator[BrokerSettings]:
    async with isolated_broker(amqp_url, "gp") as settings:
        yield settings


@contextlib.asynccontextmanager
async def gateway_before(broker: BrokerSettings, upstream: PacedUpstream) -> AsyncIterator[Gateway]:
    async with serving(upstream) as url:
        gw = await start_gateway(broker, url)
        try:
            yield gw
        finally:
            gw.proc.stop()


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


async def test_the_first_bytes_arrive_before_the_upstream_has_sent_the_rest(broker) -> None:
    upstream = PacedUpstream()
    async with gateway_before(broker, upstream) as gw, httpx.AsyncClient(timeout=30) as http:
        request = http.build_request("GET", f"{gw.http}/ai/sessions/s1", headers=bearer("alice"))
        answer = await http.send(request, stream=True)
        try:
            assert answer.status_code == 200
            received = bytearray()
            chunks = answer.aiter_raw()
            async with asyncio.timeout(10):  # the upstream holds the rest until released
                while len(received) < len(CHUNK):
                    received += await anext(chunks)
            assert bytes(received[: len(CHUNK)]) == CHUNK
            upstream.release.set()
            async for chunk in chunks:
                received += chunk
        finally:
            await answer.aclose()
        assert len(received) == 16 * len(CHUNK)


async def test_a_client_leaving_mid_body_closes_the_upstream_answer(broker) -> None:
    upstream = PacedUpstream(endless=True)
    async with gateway_before(broker, upstream) as gw, httpx.AsyncClient(timeout=30) as http:
        request = http.build_request("GET", f"{gw.http}/ai/sessions/s1", headers=bearer("alice"))
        answer = await http.send(request, stream=True)
        async with asyncio.timeout(10):
            async for _ in answer.aiter_raw():
                break
        await answer.aclose()  # goes away with the body unread
        async with asyncio.timeout(10):
            while upstream.closed < 1:
                await asyncio.sleep(0.05)
        assert upstream.started == 1


async def test_an_upstream_breaking_mid_body_breaks_the_clients_answer(broker) -> None:
    upstream = PacedUpstream(breaks=True)
    upstream.release.set()
    async with gateway_before(broker, upstream) as gw, httpx.AsyncClient(timeout=30) as http:
        with pytest.raises(httpx.HTTPError):  # never a short body that looks complete
            answer = await http.get(f"{gw.http}/ai/sessions/s1", headers=bearer("alice"))
            answer.json()
        still = await http.get(f"{gw.http}/ai/health")
        assert still.status_code in (200, 503)  # the gateway serves on


async def test_one_user_past_the_cap_gets_429_while_another_is_served(broker) -> None:
    upstream = PacedUpstream()
    async with gateway_before(broker, upstream) as gw, httpx.AsyncClient(timeout=30) as http:
        held = []
        for _ in range(PER_USER):
            request = http.build_request(
                "GET", f"{gw.http}/ai/sessions/s1", headers=bearer("alice")
            )
            held.append(await http.send(request, stream=True))
        try:
            refused = await http.get(f"{gw.http}/ai/sessions/s1", headers=bearer("alice"))
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            error = refused.json()["error"]
            assert error["code"] == "too_many_concurrent_requests"
            assert "at most 8" in error["message"]
            other = http.build_request("GET", f"{gw.http}/ai/sessions/s2", headers=bearer("bob"))
            served = await http.send(other, stream=True)
            assert served.status_code == 200
            await served.aclose()
        finally:
            upstream.release.set()
            for answer in held:
                await answer.aread()
                await answer.aclose()
        async with asyncio.timeout(10):  # slots are given back as each answer's end is sent
            while (
                again := await http.get(f"{gw.http}/ai/sessions/s1", headers=bearer("alice"))
            ).status_code == 429:
                await asyncio.sleep(0.05)
        assert again.status_code == 200 and len(again.content) == 16 * len(CHUNK)
