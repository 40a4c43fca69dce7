"""Before a device gets events: valid ids, a valid token, and a session it may see."""

import asyncio

from starlette.websockets import WebSocket
from switchboard_edge import safe_json
from switchboard_edge.auth import AuthError, Claims, verify_token
from switchboard_protocol import InvalidName, check_name
from switchboard_protocol.frames import CLIENT_FRAME_ADAPTER, AuthFrame

from . import closes
from .closes import Close
from .connection import Caller
from .settings import GatewaySettings
from .upstream import Answer, SessionService, UpstreamUnavailable

_BY_STATUS = {
    401: closes.UNAUTHENTICATED,
    403: closes.FORBIDDEN,
    404: closes.NOT_FOUND,
    429: closes.RATE_LIMITED,
}


async def handshake(
    ws: WebSocket, session_id: str, settings: GatewaySettings, session_service: SessionService
) -> Caller:
    """The caller, or Close with the code docs/protocol.md names."""
    try:
        check_name(session_id, "session_id")
    except InvalidName as exc:
        raise Close(closes.NOT_FOUND, str(exc)) from exc
    client_id = ws.query_params.get("client_id", "default")
    ack = ws.query_params.get("ack", "auto")
    try:
        check_name(client_id, "client_id")
    except InvalidName as exc:
        raise Close(closes.BAD_FRAME, str(exc)) from exc
    if ack not in ("auto", "client"):
        raise Close(closes.BAD_FRAME, "ack must be auto or client")
    cursor = ws.query_params.get("cursor")
    token = _bearer(ws)
    _forget_request(ws)
    if token is None:
        token, sent = await _auth_frame(ws, settings.auth_timeout_s)
        cursor = sent or cursor
    claims = check_token(token, settings)
    answer = await _check_session(session_service, token, session_id, client_id)
    access = answer.body
    return Caller(
        session_id=session_id,
        client_id=client_id,
        user_id=claims.user_id,
        token=token,
        expires_at=claims.expires_at,
        mode=str(access.get("mode") or "text"),
        agent_type=str(access.get("agent_type") or "personal"),
        active_run_id=access.get("active_run_id"),
        cursor=cursor,
        idle_at=answer.idle_at,
    )


def _forget_request(ws: WebSocket) -> None:
    """Drop the upgrade request's headers and parsed query (read above, never again) from the
    socket's scope and its caches: the socket keeps them for its whole life otherwise, about
    1 KB per idle device."""
    ws.scope["headers"] = []
    ws.__dict__.pop("_headers", None)
    ws.__dict__.pop("_query_params", None)


def check_token(token: str, settings: GatewaySettings) -> Claims:
    try:
        return verify_token(token, settings)
    except AuthError as exc:
        code = closes.FORBIDDEN if exc.reason == "forbidden" else closes.UNAUTHENTICATED
        raise Close(code, exc.message[:120]) from exc


def _bearer(ws: WebSocket) -> str | None:
    value = ws.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _auth_frame(ws: WebSocket, timeout: float) -> tuple[str, str | None]:
    """The auth frame's token and cursor."""
    try:
        async with asyncio.timeout(timeout):
            message = await ws.receive()
    except TimeoutError as exc:
        raise Close(closes.UNAUTHENTICATED, "no auth frame in time") from exc
    if message["type"] == "websocket.disconnect":
        raise Close(None)
    try:
        value = safe_json.loads(message.get("text") or "")  # never RecursionError
        frame = CLIENT_FRAME_ADAPTER.validate_python(value, extra="ignore")
    except ValueError:  # safe_json.UnsafeJson and pydantic's ValidationError
        frame = None
    if not isinstance(frame, AuthFrame):
        raise Close(closes.UNAUTHENTICATED, "first frame must be auth, with a token")
    return frame.token, frame.cursor


async def _check_session(
    session_service: SessionService, token: str, session_id: str, client_id: str
) -> Answer:
    """The session service's answer for this device (its body a `DeviceAccess`), or Close."""
    try:
        answer = await session_service.open_device(token, session_id, client_id)
    except UpstreamUnavailable as exc:
        raise Close(closes.TRY_AGAIN, "session service unavailable") from exc
    if answer.status in _BY_STATUS:
        code, message = answer.error()
        reason = f"{code}: {message}" if answer.status == 429 else message  # which limit
        raise Close(_BY_STATUS[answer.status], reason or "session check refused")
    if answer.status >= 500:
        raise Close(closes.TRY_AGAIN, f"session check failed ({answer.status})")
    if not answer.ok or not isinstance(answer.body, dict):
        raise Close(closes.INTERNAL, f"session check failed ({answer.status})")
    if answer.body.get("status") == "ended":
        raise Close(closes.SESSION_ENDED, "session ended")
    return answer
