"""Socket → gateway: client frames, checked for size, rate and shape before anything happens."""

from collections.abc import Awaitable, Callable
from typing import Any

from switchboard_edge import safe_json
from switchboard_protocol import make_event

from . import closes, frames
from .closes import Close
from .connection import Connection
from .handshake import check_token
from .upstream import Answer, UpstreamUnavailable
from .window import UnknownEvent

Handler = Callable[[Connection, dict[str, Any]], Awaitable[None]]


async def receive_frames(conn: Connection) -> None:
    limit = conn.parts.settings.max_frame_bytes
    while True:
        message = await conn.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise Close(None)
        text: str | None = message.get("text")
        data: bytes | None = message.get("bytes")
        if _size(text, data) > limit:
            raise Close(closes.TOO_LARGE, "frame too large")
        frame = _parse(text)
        if _releases(conn, frame):
            await on_ack(conn, frame)  # type: ignore[arg-type]
            continue  # acks that release events are paced by delivery, not the frame limit
        if not conn.bucket.allow():
            if conn.bucket.strikes >= conn.parts.settings.rate_limit_strikes:
                raise Close(closes.RATE_LIMITED, "too many frames")
            await conn.send(frames.error_frame("rate_limited", "slow down"))
            continue
        if text is not None:
            await handle_frame(conn, frame)
        elif data is not None:
            await handle_audio(conn, data)


class Refused:
    """A text frame that is not one the gateway takes: the error frame it gets."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _parse(text: str | None) -> dict[str, Any] | Refused | None:
    """The frame as an object, or why it is refused; None for binary. Values the services
    cannot store (NUL, lone surrogates, NaN/Infinity, nesting past safe_json.MAX_DEPTH) are
    refused here, with the rest of the client's JSON (switchboard_edge.safe_json)."""
    if text is None:
        return None
    try:
        frame = safe_json.loads(text)
    except safe_json.UnsafeJson as exc:
        code = "bad_json" if isinstance(exc, safe_json.NotJson) else "invalid_field"
        return Refused(code, f"frame: {exc}"[:200])
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return Refused("bad_frame", "frame must be an object with a string type")
    return frame


def _releases(conn: Connection, frame: dict[str, Any] | Refused | None) -> bool:
    """Whether `frame` is an ack of an event still in this connection's window."""
    return (
        isinstance(frame, dict)
        and frame["type"] == "ack"
        and conn.window is not None
        and isinstance(frame.get("id"), str)
        and conn.window.pending(frame["id"])
    )


def _size(text: str | None, data: bytes | None) -> int:
    if text is not None:
        return len(text) if len(text) * 4 <= 1024 else len(text.encode())
    return len(data or b"")


async def bad_frame(conn: Connection, code: str, message: str) -> None:
    """An error frame; the connection closes 4400 once MAX_BAD_FRAMES were bad."""
    conn.bad_frames += 1
    if conn.bad_frames >= conn.parts.settings.max_bad_frames:
        raise Close(closes.BAD_FRAME, "too many bad frames")
    await conn.send(frames.error_frame(code, message))


async def handle_frame(conn: Connection, frame: dict[str, Any] | Refused | None) -> None:
    if isinstance(frame, Refused):
        await bad_frame(conn, frame.code, frame.message)
        return
    if frame is None:
        return
    handler = HANDLERS.get(frame["type"])
    if handler is None:
        await bad_frame(conn, "unknown_type", f"unknown frame type {frame['type'][:40]!r}")
        return
    await handler(conn, frame)


async def on_ack(conn: Connection, frame: dict[str, Any]) -> None:
    event_id = frame.get("id")
    if not isinstance(event_id, str):
        await bad_frame(conn, "missing_field", "ack needs a string id")
        return
    if conn.window is None:
        return
    try:
        messages = conn.window.ack(event_id)
    except UnknownEvent:
        await bad_frame(conn, "unknown_event", "no unacknowledged event has that id")
        return
    conn.parts.metrics.acks.inc()
    await conn.device.ack(messages)


async def on_message(conn: Connection, frame: dict[str, Any]) -> None:
    if not isinstance(frame.get("content"), str):
        await bad_frame(conn, "missing_field", "message needs a string content")
        return
    if not isinstance(frame.get("metadata", {}), dict):
        await bad_frame(conn, "invalid_field", "metadata must be an object")
        return
    body: dict[str, Any] = {k: frame[k] for k in ("content", "metadata", "on_busy") if k in frame}
    c = conn.caller
    conn.spawn(
        _answer(
            conn, conn.parts.session_service.post_message(c.token, c.session_id, c.client_id, body)
        )
    )


async def on_cancel(conn: Connection, frame: dict[str, Any]) -> None:
    c = conn.caller
    conn.spawn(_answer(conn, conn.parts.session_service.cancel(c.token, c.session_id), quiet=True))


async def on_tool_decision(conn: Connection, frame: dict[str, Any]) -> None:
    """Approve or deny a `tool_call` that requires approval (the REST twin decides)."""
    if not isinstance(frame.get("call_id"), str) or not isinstance(frame.get("approve"), bool):
        await bad_frame(
            conn, "missing_field", "tool_decision needs a string call_id and a boolean approve"
        )
        return
    if not isinstance(frame.get("reason"), str | None):
        await bad_frame(conn, "invalid_field", "reason must be a string")
        return
    body: dict[str, Any] = {k: frame[k] for k in ("call_id", "approve", "reason") if k in frame}
    c = conn.caller
    decide = conn.parts.session_service.decide_tool(c.token, c.session_id, c.client_id, body)
    conn.spawn(_answer(conn, decide, accepted=DECIDED))


async def on_typing(conn: Connection, frame: dict[str, Any]) -> None:
    c = conn.caller
    event = make_event(
        "typing",
        {"status": "typing", "message": ""},
        session_id=c.session_id,
        agent_type=c.agent_type,
        metadata={"client_id": c.client_id},
    )
    conn.typing(lambda: conn.spawn(_publish(conn, conn.parts.control.publish_event(event))))


async def on_refresh(conn: Connection, frame: dict[str, Any]) -> None:
    token = frame.get("token")
    if not isinstance(token, str) or not token:
        await bad_frame(conn, "missing_field", "refresh needs a token")
        return
    try:
        claims = check_token(token, conn.parts.settings)
    except Close as exc:
        await conn.send(frames.error_frame("invalid_token", exc.reason))
        return
    if claims.user_id != conn.caller.user_id:
        await conn.send(frames.error_frame("forbidden", "token is for another user"))
        return
    conn.caller.token, conn.caller.expires_at = token, claims.expires_at
    conn.watch_expiry()


async def on_ping(conn: Connection, frame: dict[str, Any]) -> None:
    await conn.send(frames.PONG)


async def handle_audio(conn: Connection, data: bytes) -> None:
    c = conn.caller
    if c.mode != "voice":
        await bad_frame(conn, "not_voice", "binary frames are audio, for voice sessions only")
        return
    conn.spawn(
        _answer(
            conn, conn.parts.session_service.post_audio(c.token, c.session_id, c.client_id, data)
        )
    )


ACCEPTED = ("message_accepted", ("message_id", "run_id"))
DECIDED = ("tool_decision_accepted", ("call_id", "approve", "status"))
"""The frame a successful upstream answer becomes, and the fields it carries over."""


async def _answer(
    conn: Connection,
    call: Awaitable[Answer],
    quiet: bool = False,
    accepted: tuple[str, tuple[str, ...]] = ACCEPTED,
) -> None:
    """The upstream answer as `accepted` (or nothing when quiet), or an error frame."""
    try:
        answer = await call
    except UpstreamUnavailable:
        await conn.send(frames.error_frame("upstream_unavailable", "session service unavailable"))
        return
    if not answer.ok:
        await conn.send(frames.error_frame(*answer.error()))
    elif not quiet and isinstance(answer.body, dict):
        kind, keys = accepted
        await conn.send(frames.frame(kind, **{k: answer.body.get(k) for k in keys}))


async def _publish(conn: Connection, publish: Awaitable[None]) -> None:
    try:
        await publish
    except Exception:  # noqa: BLE001 - reported to the client, never fatal
        await conn.send(frames.error_frame("publish_failed", "typing was not delivered"))


HANDLERS: dict[str, Handler] = {
    "ack": on_ack,
    "message": on_message,
    "cancel": on_cancel,
    "tool_decision": on_tool_decision,
    "typing": on_typing,
    "refresh": on_refresh,
    "auth": on_refresh,
    "ping": on_ping,
}
