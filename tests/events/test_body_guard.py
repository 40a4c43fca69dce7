"""The body guard's refusals close with a lingering close: the whole answer is sent, then what
the client still sends is read and dropped (bounded), and only then does the response end (and
the server close the connection). A server that closes with unread data makes the kernel send
a reset that can overtake its answer: a client uploading with an expired token saw "connection
reset" instead of its 401 (tests/security/test_edge_flood.py, on a busy machine)."""

import asyncio
from typing import Any

from switchboard_events.auth import AuthSettings
from switchboard_events.body_guard import BodyGuard, BodyLimits

LIMIT = 64 * 1024


class _Client:
    """An ASGI receive that yields `chunks` body parts, recording what the server did."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.log: list[str] = []

    async def receive(self) -> dict[str, Any]:
        self.chunks -= 1
        self.log.append("read")
        return {"type": "http.request", "body": b"x" * 1024, "more_body": self.chunks > 0}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.log.append(f"start {message['status']}")
            assert (b"connection", b"close") in message["headers"]
        else:
            self.log.append("body" if message.get("more_body") else "end")


async def _unauthorised_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()  # the guard hands an empty body
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b'{"error": {}}'})


def _scope(**headers: str) -> dict[str, Any]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "path": "/ai/sessions", "method": "POST", "headers": raw}


def _guard() -> BodyGuard:
    limits = BodyLimits(max_json_bytes=LIMIT, max_audio_bytes=LIMIT)
    return BodyGuard(_unauthorised_app, limits, AuthSettings())  # type: ignore[call-arg]


async def test_a_body_without_a_token_is_drained_after_the_401() -> None:
    client = _Client(chunks=5)
    async with asyncio.timeout(10):
        await _guard()(_scope(transfer_encoding="chunked"), client.receive, client.send)
    assert client.log == ["start 401", "body", "read", "read", "read", "read", "read", "end"]


async def test_a_declared_oversize_body_is_answered_413_then_drained_up_to_the_limit() -> None:
    client = _Client(chunks=10_000)  # far more than the limit: reading stops past it
    async with asyncio.timeout(10):
        await _guard()(_scope(content_length=str(LIMIT * 100)), client.receive, client.send)
    assert client.log[:2] == ["start 413", "body"]
    assert client.log[-1] == "end"
    reads = client.log.count("read")
    assert LIMIT // 1024 <= reads <= LIMIT // 1024 + 2, reads
