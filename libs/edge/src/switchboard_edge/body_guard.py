"""The ASGI layer in front of both HTTP services: request bodies are limited while they stream
in, the bearer token is checked before a body is read, and (session service) JSON bodies pass
`safe_json` before any handler parses them.

- Content-Length over the route's limit: 413 `body_too_large`, nothing read.
- A body on a route that needs a token, without a valid one: the body is not read; the app
  sees an empty body (and answers 401 itself, audited) and the connection closes after it.
- Otherwise the body is read up to the limit (413 as soon as it is passed, the rest never
  read) and handed to the app as one message.
"""

import asyncio
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

AUDIO_PATH = re.compile(r"^/ai/sessions/[^/]+/audio$")
MESSAGE_PATH = re.compile(r"^/ai/sessions/[^/]+/(message|agui)$")
"""A message, or an AG-UI `RunAgentInput` (whose last user message is one)."""
MAX_ESCAPED_CHAR_BYTES = 12
"""The most JSON bytes one character can take: an emoji escaped as `\ud83d\ude00`."""
OPEN_PATHS = frozenset({"/ai/dev/token"})
"""Routes that take a body without a token."""


@dataclass(frozen=True)
class BodyLimits:
    max_json_bytes: int
    max_audio_bytes: int
    check_json: bool = False
    """Refuse (422) JSON bodies `safe_json` refuses, before the app parses them."""
    by_path: tuple[tuple[str, int], ...] = ()
    """(exact path, limit) of routes with a limit of their own (the session service's batch of
    device checks carries up to 256 tokens)."""
    max_message_chars: int = 0
    """MAX_MESSAGE_CHARS: a message body may take `max_json_bytes` plus the longest JSON this
    many characters can be (`message_body_bytes`), so every message the character limit allows
    fits, however its client encodes it."""

    def limit_for(self, path: str) -> int:
        for exact, limit in self.by_path:
            if path == exact:
                return limit
        if MESSAGE_PATH.match(path):
            return self.max_json_bytes + MAX_ESCAPED_CHAR_BYTES * self.max_message_chars
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
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413, "body_too_large", f"request body: at most {limit} bytes")
            return
        if scope["path"] not in OPEN_PATHS and not self._token_ok(scope):
            await self.app(scope, _empty_body(), _closing(send))
            return
        body = await _read(receive, limit)
        if body is None:
            await _refuse(send, 413, "body_too_large", f"request body: at most {limit} bytes")
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


def _closing(send: Send) -> Send:
    """`send` that closes the connection after the response (its body was left unread)."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
        await send(message)

    return closing


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
