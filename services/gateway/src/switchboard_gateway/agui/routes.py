"""`POST /ai/sessions/{id}/agui` (a `RunAgentInput`: its last user message is sent, the run
streams back as AG-UI events) and `GET /ai/sessions/{id}/agui` (join the run in progress, or
the next one). Either, with `Last-Event-ID`, resumes a dropped stream where it stopped, on any
replica. Each stream is a device of the session (`X-Client-Id`, default `agui`) subscribed to
the session's events; its SSE ids say which device, where in the session's stream and where
in which run (cursor.py)."""

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from fastapi import APIRouter, Request
from fastapi.responses import Response
from switchboard_edge.auth import AuthError, verify_token
from switchboard_protocol import InvalidName, check_name

from ..closes import Close
from ..errors import error_response
from ..hub import Hub
from ..parts import SocketParts
from ..subscription import Subscription
from .calls import refuse_unless_ok, upstream
from .cursor import BadEventId, EventId, RunState, parse_id
from .openapi import EventStream, operation
from .request import AguiMessage, AguiRefused, read_input
from .resume import adopter, opening
from .stream import AguiStream

router = APIRouter()
DEFAULT_DEVICE = "agui"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/ai/sessions/{session_id}/agui", response_class=EventStream, openapi_extra=operation(True)
)
async def run_agui(request: Request, session_id: str) -> Response:
    """Send the `RunAgentInput`'s last user message; stream its run as AG-UI events (SSE)."""
    return await _answer(request, session_id, post=True)


@router.get(
    "/ai/sessions/{session_id}/agui", response_class=EventStream, openapi_extra=operation(False)
)
async def join_agui(request: Request, session_id: str) -> Response:
    """Join the session's run in progress (`MESSAGES_SNAPSHOT`, then live) or its next run."""
    return await _answer(request, session_id, post=False)


async def _answer(request: Request, session_id: str, post: bool) -> Response:
    try:
        return await _stream(request, session_id, post)
    except AguiRefused as refused:
        answer = error_response(refused.status, refused.code, refused.message)
        if refused.retry_after is not None:
            answer.headers["Retry-After"] = refused.retry_after
        return answer


async def _stream(request: Request, session_id: str, post: bool) -> Response:
    hub: Hub = request.app.state.hub
    parts, live = hub.parts, hub.live
    token = _bearer(request)
    try:
        check_name(session_id, "session_id")
    except InvalidName as exc:
        raise AguiRefused(404, "session_not_found", str(exc)) from exc
    resume = request.headers.get("last-event-id")
    last = _event_id(resume) if resume else None
    client_id = last.state.client_id if last else _client_id(request)
    if not token:
        raise AguiRefused(401, "unauthenticated", "missing bearer token")
    user_id = _user_of(token, parts)
    if user_id is None:
        await _check_device(parts, token, session_id, client_id)  # its 401/403, audited there
        raise AguiRefused(401, "unauthenticated", "invalid bearer token")
    message = read_input(await request.body(), session_id) if post and not last else None
    await _check_device(parts, token, session_id, client_id)
    state, position = (last.state, last.position) if last else (None, None)
    if message is not None:  # sent before the device is taken: a refusal changes nothing
        state = RunState(client_id, await _send(parts, token, session_id, client_id, message))
    stream = AguiStream(parts, live, user_id, (session_id, client_id))
    sub = await _open(stream, position)
    try:
        prelude, mapper = await opening(parts, token, sub, client_id, state, position)
    except BaseException:
        await stream.close()
        raise
    adopt = None if mapper else adopter(session_id, client_id)
    body = stream.events(prelude, mapper, adopt)
    return EventStream(body, headers=_SSE_HEADERS)


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _user_of(token: str, parts: SocketParts) -> str | None:
    """The token's user, or None when the token is not valid here."""
    try:
        return verify_token(token, parts.settings).user_id
    except AuthError:
        return None


def _event_id(text: str) -> EventId:
    try:
        return parse_id(text)
    except BadEventId as exc:
        raise AguiRefused(400, "invalid_cursor", str(exc)) from exc


def _client_id(request: Request) -> str:
    client_id = request.headers.get("x-client-id") or DEFAULT_DEVICE
    try:
        return check_name(client_id, "X-Client-Id")
    except InvalidName as exc:
        raise AguiRefused(422, "validation_error", str(exc)) from exc


async def _check_device(parts: SocketParts, token: str, session_id: str, client_id: str) -> None:
    """The session service's device check (ownership, status, device caps), as for a socket."""
    answer = await upstream(parts.session_service.open_device(token, session_id, client_id))
    refuse_unless_ok(answer)
    if isinstance(answer.body, dict) and answer.body.get("status") == "ended":
        raise AguiRefused(409, "session_ended", "the session has ended")


async def _open(stream: AguiStream, position: str | None) -> Subscription:
    try:
        return await stream.open(position)
    except Close as exc:
        raise AguiRefused(503, "try_again", f"{exc.reason}; try again") from exc
    except TimeoutError as exc:
        raise AguiRefused(503, "try_again", "the session's events are not available") from exc
    except (AMQPError, ChannelInvalidStateError, OSError) as exc:
        raise AguiRefused(503, "broker_unavailable", "the broker did not answer") from exc


async def _send(
    parts: SocketParts, token: str, session_id: str, client_id: str, message: AguiMessage
) -> str:
    body = {"content": message.content, "metadata": {"source": "agui"}, "on_busy": message.on_busy}
    service = parts.session_service
    answer = await upstream(service.post_message(token, session_id, client_id, body))
    refuse_unless_ok(answer)
    return str(answer.body["run_id"])
