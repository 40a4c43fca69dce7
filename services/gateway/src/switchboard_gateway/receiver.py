"""Socket → gateway: client frames, checked for size, rate and shape before anything happens."""

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from switchboard_edge import safe_json
from switchboard_protocol import Event, WireModel, make_event
from switchboard_protocol.frames import (
    CLIENT_FRAME_ADAPTER,
    CLIENT_FRAME_CLASSES,
    AckFrame,
    AuthFrame,
    ClientFrame,
    MessageFrame,
    RefreshFrame,
    ToolDecisionFrame,
)

from . import closes, frames
from .closes import Close
from .connection import Connection
from .handshake import check_token
from .upstream import Answer, UpstreamUnavailable

Handler = Callable[[Connection, Any], Awaitable[None]]
"""Takes the frame class its `type` names (HANDLERS)."""


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
        if isinstance(frame, AckFrame):
            await on_ack(conn, frame)
            continue  # accepted, free of the frame limit: v1 clients ack as events come
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


def _parse(text: str | None) -> ClientFrame | Refused | None:
    """The frame as its switchboard_protocol model, or why it is refused; None for binary.
    Parsed once (safe_json: values the services cannot store, such as NUL, lone surrogates,
    NaN/Infinity or nesting past safe_json.MAX_DEPTH, are refused as for REST bodies), then
    validated once; fields this version does not know are ignored (WireModel.read)."""
    if text is None:
        return None
    try:
        value = safe_json.loads(text)
    except safe_json.UnsafeJson as exc:
        code = "bad_json" if isinstance(exc, safe_json.NotJson) else "invalid_field"
        return Refused(code, f"frame: {exc}"[:200])
    try:
        return CLIENT_FRAME_ADAPTER.validate_python(value, extra="ignore")
    except ValidationError as exc:
        return refusal(exc)


FRAME_CLASSES: dict[str, type[WireModel]] = {
    cls.model_fields["type"].default: cls for cls in CLIENT_FRAME_CLASSES
}


def refusal(exc: ValidationError) -> Refused:
    """The error frame docs/protocol.md promises for a frame the models refuse: a required
    field absent or of the wrong type is `missing_field`, a bad optional one `invalid_field`."""
    error = exc.errors(include_url=False)[0]
    if error["type"] == "union_tag_invalid" and isinstance(error["input"].get("type"), str):
        return Refused("unknown_type", f"unknown frame type {error['ctx']['tag'][:40]!r}")
    if len(error["loc"]) < 2:  # not an object, no type, or a type that is not a string
        return Refused("bad_frame", "frame must be an object with a string type")
    kind, field = str(error["loc"][0]), str(error["loc"][1])
    where = ".".join(str(part) for part in error["loc"][1:])
    if FRAME_CLASSES[kind].model_fields[field].is_required():
        return Refused("missing_field", f"{kind} needs {field}: {error['msg']}"[:200])
    return Refused("invalid_field", f"{kind} {where}: {error['msg']}"[:200])


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


async def handle_frame(conn: Connection, frame: ClientFrame | Refused | None) -> None:
    if isinstance(frame, Refused):
        await bad_frame(conn, frame.code, frame.message)
        return
    if frame is None:
        return
    await HANDLERS[frame.type](conn, frame)


async def on_ack(conn: Connection, frame: AckFrame) -> None:
    """Accepted and counted (receive_frames takes them before the frame limit)."""
    conn.parts.metrics.acks.inc()


async def on_message(conn: Connection, frame: MessageFrame) -> None:
    body = frame.model_dump(mode="json", exclude={"type"})
    c = conn.caller
    conn.spawn(
        _answer(
            conn, conn.parts.session_service.post_message(c.token, c.session_id, c.client_id, body)
        )
    )


async def on_cancel(conn: Connection, frame: ClientFrame) -> None:
    c = conn.caller
    conn.spawn(_answer(conn, conn.parts.session_service.cancel(c.token, c.session_id), quiet=True))


async def on_tool_decision(conn: Connection, frame: ToolDecisionFrame) -> None:
    """Approve or deny a `tool_call` that requires approval (the REST twin decides)."""
    body = frame.model_dump(mode="json", exclude={"type"})
    c = conn.caller
    decide = conn.parts.session_service.decide_tool(c.token, c.session_id, c.client_id, body)
    conn.spawn(_answer(conn, decide, accepted=DECIDED))


async def on_typing(conn: Connection, frame: ClientFrame) -> None:
    """Coalesced per device (typing_gate.py): the event is built only when it goes out, so a
    frame the gate folds into the next one costs no event, and the timestamp is the send's."""
    conn.typing(lambda: conn.spawn(_publish(conn, conn.parts.control.publish_event(_typing(conn)))))


def _typing(conn: Connection) -> Event:
    c = conn.caller
    return make_event(
        "typing",
        {"status": "typing", "message": ""},
        session_id=c.session_id,
        agent_type=c.agent_type,
        metadata={"client_id": c.client_id},
    )


async def on_refresh(conn: Connection, frame: RefreshFrame | AuthFrame) -> None:
    token = frame.token
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


async def on_ping(conn: Connection, frame: ClientFrame) -> None:
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
