"""The ASGI layer in front of both HTTP services: request bodies are limited while they stream
in, the bearer token is checked before a body is read, and (session service) JSON bodies pass
`safe_json` before any handler parses them.

- Content-Length over the route's limit: 413 `body_too_large`, nothing read.
- A body on a route that needs a token, without a valid one: the body is not read; the app
  sees an empty body (and answers 401 itself, audited) and the connection closes after it.
- Otherwise the body is read up to the limit (413 as soon as it is passed, the rest never
  read) and handed to the app as one message.

A refusal closes the connection with a lingering close (RFC 9112, 9.6): the response is sent,
then up to the route's limit of what the client still sends is read and dropped, for at most
LINGER_S, before the close. Closing a socket with unread data makes the kernel answer with a
reset, which can reach the client before it read the response: a client uploading audio with an
expired token got "connection reset" instead of its 401.
"""

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from switchboard_protocol import ErrorBody, ErrorEnvelope, dumps

from .auth import AuthError, AuthSettings, verify_token
from .safe_json import UnsafeJson, loads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LINGER_S = 1.0
"""Longest a refused request's connection stays open reading (and dropping) its body."""
AUDIO_PATH = re.compile(r"^/ai/sessions/[^/]+/audio$")
OPEN_PATHS = frozenset({"/ai/dev/token"})
"""Routes that take a body without a token."""


@dataclass(frozen=True)
class BodyLimits:
    max_json_bytes: int
    max_audio_bytes: int
    check_json: bool = False
    """Refuse (422) JSON bodies `safe_json` refuses, before the app parses them."""

    def limit_for(self, path: str) -> int:
        return self.max_audio_bytes if AUDIO_PATH.match(path) else self.max_json_bytes


class BodyGuard:
    def __init__(self, app: App, limits: BodyLimits, auth: AuthSettings) -> None:
        self.app = app
        self.limits = limits
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        limit = self.limits.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        lingering = _lingering(send, receive, limit)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(lingering, 413, "body_too_large", f"request body: at most {limit} bytes")
            return
        if scope["path"] not in OPEN_PATHS and not self._token_ok(scope):
            await self.app(scope, _empty_body(), lingering)
            return
        body = await _read(receive, limit)
        if body is None:
            await _refuse(lingering, 413, "body_too_large", f"request body: at most {limit} bytes")
            return
        if self.limits.check_json and body and _is_json(scope):
            try:
                loads(body)
            except UnsafeJson as exc:
                await _refuse(send, 422, "validation_error", f"body: {exc}"[:500])
                return
        await self.app(scope, _replay(body, receive), send)

    def _token_ok(self, scope: Scope) -> bool:
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        try:
            verify_token(token.strip(), self.auth)
        except AuthError:
            return False
        return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1").strip()
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return (length is not None and length != "0") or _header(
        scope, b"transfer-encoding"
    ) is not None


def _is_json(scope: Scope) -> bool:
    kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return kind == "" or kind.endswith("json")


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (the rest is never read)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)  # the client went away; the app sees it next
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: waits for the disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _empty_body() -> Receive:
    """An empty body, then nothing (the unread body stays in the socket until it closes)."""
    sent = False

    async def empty() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Future()  # blocks until cancelled, like a receive after the body
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    return empty


def _lingering(send: Send, receive: Receive, limit: int) -> Send:
    """`send` for a refusal whose body is left unread: `Connection: close` on the response,
    and a lingering close after it (see the module's docstring)."""

    async def lingering(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            message = {**message, "headers": headers if _CLOSE in headers else [*headers, _CLOSE]}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            await send({**message, "more_body": True})  # the whole answer is out
            await _drop_body(receive, limit, LINGER_S)
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return lingering


async def _drop_body(receive: Receive, limit: int, seconds: float) -> None:
    """Read and drop what the client still sends: up to `limit` bytes, for `seconds` at most."""
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while dropped <= limit:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))


_CLOSE = (b"connection", b"close")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = dumps(ErrorEnvelope(error=ErrorBody(code=code, message=message))).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        _CLOSE,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
