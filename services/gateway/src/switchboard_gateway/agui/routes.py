"""`POST /ai/sessions/{id}/agui` (a `RunAgentInput`: its last user message is sent, the run
streams back as AG-UI events) and `GET /ai/sessions/{id}/agui` (join the run in progress, or
the next one). Either, with `Last-Event-ID`, resumes a dropped stream where it stopped, on any
replica. Each stream is a device of the session (`X-Client-Id`, default `agui`): its buffer
is the device's queue, its SSE ids say which device and where in which run (cursor.py)."""

import asyncio
from typing import Any

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from fastapi import APIRouter, Request
from fastapi.responses import Response
from switchboard_edge.auth import AuthError, verify_token
from switchboard_protocol import ActiveRun, InvalidName, check_name

from ..closes import Close
from ..errors import error_response
from ..hub import Hub
from ..parts import SocketParts
from ..upstream import Answer, UpstreamUnavailable
from .cursor import BadCursor, Cursor, parse
from .mapping import RunMapper, sse
from .openapi import EventStream, operation
from .request import AguiMessage, AguiRefused, read_input
from .snapshot import snapshot
from .stream import AguiStream

router = APIRouter()
DEFAULT_DEVICE = "agui"
TERMINAL = ("completed", "failed", "cancelled")
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
    cursor = _cursor(resume) if resume else None
    client_id = cursor.client_id if cursor else _client_id(request)
    if not token:
        raise AguiRefused(401, "unauthenticated", "missing bearer token")
    if not _token_ok(token, parts):
        await _check_device(parts, token, session_id, client_id)  # its 401/403, audited there
        raise AguiRefused(401, "unauthenticated", "invalid bearer token")
    message = read_input(await request.body(), session_id) if post and not cursor else None
    await _check_device(parts, token, session_id, client_id)
    if message is not None:  # sent before the device is taken: a refusal changes nothing
        run_id = await _send(parts, token, session_id, client_id, message)
        cursor = Cursor(client_id, run_id)
    stream = AguiStream(parts, live, session_id, client_id)
    await _open(stream, fresh=cursor is None)
    mapper: RunMapper | None
    try:
        if cursor is not None:
            prelude, mapper = await _resumed(parts, token, session_id, cursor)
        else:
            prelude, mapper = await _joined(parts, token, session_id, client_id)
    except BaseException:
        await stream.close()
        raise
    adopt = None if mapper else _adopter(session_id, client_id)
    body = stream.events(prelude, mapper, adopt)
    return EventStream(body, headers=_SSE_HEADERS)


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _token_ok(token: str, parts: SocketParts) -> bool:
    try:
        verify_token(token, parts.settings)
    except AuthError:
        return False
    return True


def _cursor(text: str) -> Cursor:
    try:
        return parse(text)
    except BadCursor as exc:
        raise AguiRefused(422, "validation_error", str(exc)) from exc


def _client_id(request: Request) -> str:
    client_id = request.headers.get("x-client-id") or DEFAULT_DEVICE
    try:
        return check_name(client_id, "X-Client-Id")
    except InvalidName as exc:
        raise AguiRefused(422, "validation_error", str(exc)) from exc


async def _check_device(parts: SocketParts, token: str, session_id: str, client_id: str) -> None:
    """The session service's device check (ownership, status, device caps), as for a socket."""
    answer = await _upstream(parts.session_service.open_device(token, session_id, client_id))
    _refuse_unless_ok(answer)
    if isinstance(answer.body, dict) and answer.body.get("status") == "ended":
        raise AguiRefused(409, "session_ended", "the session has ended")


async def _upstream(call: Any) -> Answer:
    try:
        answer: Answer = await call
    except UpstreamUnavailable as exc:
        raise AguiRefused(503, "upstream_unavailable", "session service unavailable") from exc
    return answer


def _refuse_unless_ok(answer: Answer) -> None:
    if not answer.ok:
        code, message = answer.error()
        raise AguiRefused(answer.status, code, message, answer.retry_after)


async def _open(stream: AguiStream, fresh: bool) -> None:
    try:
        await stream.open(fresh)
    except Close as exc:
        raise AguiRefused(503, "try_again", f"{exc.reason}; try again") from exc
    except (AMQPError, ChannelInvalidStateError, OSError) as exc:
        raise AguiRefused(503, "broker_unavailable", "the broker did not answer") from exc


async def _send(
    parts: SocketParts, token: str, session_id: str, client_id: str, message: AguiMessage
) -> str:
    body = {"content": message.content, "metadata": {"source": "agui"}, "on_busy": message.on_busy}
    service = parts.session_service
    answer = await _upstream(service.post_message(token, session_id, client_id, body))
    _refuse_unless_ok(answer)
    return str(answer.body["run_id"])


async def _catch_up(parts: SocketParts, session_id: str) -> ActiveRun | None:
    """The run in progress as of now (everything before is in it, everything after in the
    device's buffer, which is bound already)."""
    try:
        return await parts.control.catch_up(session_id, parts.settings.catchup_timeout_s)
    except (TimeoutError, AMQPError, ChannelInvalidStateError, ValueError) as exc:
        raise AguiRefused(503, "try_again", "the run's catch-up state is not available") from exc


async def _session(parts: SocketParts, token: str, session_id: str) -> dict[str, Any]:
    answer = await _upstream(parts.session_service.session(token, session_id))
    _refuse_unless_ok(answer)
    return answer.body if isinstance(answer.body, dict) else {}


async def _resumed(
    parts: SocketParts, token: str, session_id: str, cursor: Cursor
) -> tuple[list[str], RunMapper]:
    """Where the client stopped (or the start of a run just sent): what it lacks of the run so
    far (from the catch-up state, which covers whatever the device's buffer lacks: events routed
    before it was bound, or handed to a dropped stream), then the live tail from the buffer; or,
    when the run is over, its end as stored."""
    mapper = RunMapper(session_id, cursor)
    prelude = mapper.started()
    active = await _catch_up(parts, session_id)
    text = _RunText(parts, token, session_id, cursor.run_id)
    if active is not None and active.run_id == cursor.run_id:
        if active.seq > cursor.seq:
            session = await _session(parts, token, session_id)
            stored = session.get("active_run") or {}
            if stored.get("id") != cursor.run_id:  # ended since: its outcome has the notices
                stored = _run_outcome(session, cursor.run_id) or {}
            mapper.failed_with(_error_of(stored))
            prelude += mapper.tool_calls(active.tool_calls)
            prelude += mapper.notices(stored.get("notices") or [])
            missing = await text.since(cursor.chars, active.text_offset, active.text)
            prelude += mapper.text(missing, active.seq)
            prelude += mapper.reply(_reply(session, cursor.run_id))
        return prelude, mapper
    session, outcome = await _settled(parts, token, session_id, cursor.run_id, active is None)
    if outcome is not None and outcome.get("status") in TERMINAL:
        prelude += mapper.tool_calls(_stored_calls(session, cursor.run_id))
        prelude += mapper.notices(outcome.get("notices") or [])
        tail, offset = str(outcome.get("text") or ""), int(outcome.get("text_offset") or 0)
        prelude += mapper.text(await text.since(cursor.chars, offset, tail), cursor.seq)
        prelude += mapper.reply(_reply(session, cursor.run_id))
        prelude += mapper.finish(str(outcome["status"]), _error_of(outcome))
    return prelude, mapper


async def _settled(
    parts: SocketParts, token: str, session_id: str, run_id: str, none_active: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The session and the run's stored outcome. A run catch-up no longer offers (its `run_end`
    is folded) may still read `running` until the history writer stores its end: read again
    (every 0.1 s, up to CATCHUP_TIMEOUT_S) until it does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + parts.settings.catchup_timeout_s
    while True:
        session = await _session(parts, token, session_id)
        outcome = _run_outcome(session, run_id)
        status = outcome.get("status") if outcome is not None else None
        if not (none_active and status == "running"):
            return session, outcome
        if loop.time() > deadline:
            raise AguiRefused(503, "try_again", "the run's end is not stored yet; try again")
        await asyncio.sleep(0.1)


def _reply(session: dict[str, Any], run_id: str) -> str:
    """The run's stored assistant message (a reply that streamed no token is only there)."""
    for message in session.get("messages") or ():
        if not isinstance(message, dict) or message.get("run_id") != run_id:
            continue
        if message.get("role") == "assistant":
            return str(message.get("content") or "")
    return ""


class _RunText:
    """A run's text from a given character on: the tail a catch-up or outcome carries, after
    the head read from the session service (`GET .../runs/{run_id}/text`) when it starts
    before that tail."""

    def __init__(self, parts: SocketParts, token: str, session_id: str, run_id: str) -> None:
        self.service = parts.session_service
        self.token, self.session_id, self.run_id = token, session_id, run_id

    async def since(self, start: int, tail_offset: int, tail: str) -> str:
        if start >= tail_offset:
            return tail[start - tail_offset :]
        head: list[str] = []
        offset = start
        while offset < tail_offset:
            call = self.service.run_text(self.token, self.session_id, self.run_id, offset)
            answer = await _upstream(call)
            _refuse_unless_ok(answer)
            piece = answer.body if isinstance(answer.body, dict) else {}
            chunk = str(piece.get("text") or "")
            if not chunk:
                break
            head.append(chunk)
            offset += len(chunk)
        return "".join(head)[: tail_offset - start] + tail


def _run_outcome(session: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    for run in session.get("runs") or ():
        if isinstance(run, dict) and run.get("id") == run_id:
            return run
    return None


def _stored_calls(session: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The run's tool calls as stored (its `tool` messages), each with its result once stored:
    the shape of a catch-up's `tool_calls`."""
    calls: dict[str, dict[str, Any]] = {}
    for message in session.get("messages") or ():
        tool = message.get("tool") if isinstance(message, dict) else None
        if message.get("run_id") != run_id or not isinstance(tool, dict):
            continue
        call = calls.setdefault(str(tool.get("call_id")), {"call_id": tool.get("call_id")})
        call["tool_name"] = tool.get("tool_name")
        if tool.get("kind") == "call":
            call["parameters"] = tool.get("parameters") or {}
        elif tool.get("error") is not None:
            call["error"] = tool["error"]
        else:
            call["result"] = tool.get("result")
    return list(calls.values())


def _error_of(outcome: dict[str, Any]) -> tuple[str, str] | None:
    for notice in reversed(outcome.get("notices") or []):
        if isinstance(notice, dict) and notice.get("type") == "error":
            data = notice.get("data") or {}
            return str(data.get("code") or "error"), str(data.get("message") or "")
    return None


async def _joined(
    parts: SocketParts, token: str, session_id: str, client_id: str
) -> tuple[list[str], RunMapper | None]:
    """The run in progress so far as a `MESSAGES_SNAPSHOT` (its text message left open for the
    live tail), or nothing yet: the stream waits for the session's next run."""
    active = await _catch_up(parts, session_id)
    if active is None:
        return [], None
    history = (await _session(parts, token, session_id)).get("messages") or []
    text = _RunText(parts, token, session_id, active.run_id)
    so_far = await text.since(0, active.text_offset, active.text)
    cursor = Cursor(client_id, active.run_id, active.seq, len(so_far), open=False)
    mapper = RunMapper(session_id, cursor)
    prelude = mapper.started()
    prelude.append(sse(snapshot(history, active, so_far), cursor))
    prelude += mapper.opened()
    return prelude, mapper


def _adopter(session_id: str, client_id: str) -> Any:
    def adopt(event: dict[str, object]) -> RunMapper | None:
        run_id = event.get("run_id")
        if event.get("type") != "run_start" or not isinstance(run_id, str):
            return None
        return RunMapper(session_id, Cursor(client_id, run_id))

    return adopt
