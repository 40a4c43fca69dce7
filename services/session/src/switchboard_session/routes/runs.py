"""Messages, voice utterances and cancellation: what makes and stops runs."""

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from switchboard_protocol.wav import BadWav, NotWav, read_wav

from ..app_context import AppContext
from ..decisions import decide
from ..deps import ContextDep, UserDep, client_ip
from ..dispatch import BUSY_CODES, Submission, cancel_active, submit
from ..errors import ApiError, ErrorResponse
from ..limits import limit, limit_audio
from ..schemas import (
    NAME_PATTERN,
    Accepted,
    CancelAccepted,
    SendMessage,
    ToolDecision,
    ToolDecisionAccepted,
)
from ..store import runs
from ..store.sessions import get_owned
from ..waiting import MAX_WAITING

router = APIRouter(prefix="/ai/sessions", tags=["runs"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 422, 429, 503)
}
ClientId = Annotated[str | None, Header(alias="X-Client-Id", pattern=NAME_PATTERN)]


@router.post("/{session_id}/message", status_code=202, response_model=Accepted, responses=ERRORS)
async def send_message(
    session_id: str,
    body: SendMessage,
    user: UserDep,
    ctx: ContextDep,
    request: Request,
    client_id: ClientId = None,
) -> Accepted:
    """Store the message and start a run (409 `run_active` while one runs, unless `on_busy`)."""
    if len(body.content) > ctx.settings.max_message_chars:
        raise ApiError(
            413,
            "message_too_large",
            f"content: at most {ctx.settings.max_message_chars} characters",
        )
    await limit(ctx, user, "messages", client_ip(request))
    sub = Submission(body.content, body.metadata, body.on_busy, client_id)
    message_id, run_id = await _submit(ctx, user, session_id, sub)
    return Accepted(message_id=message_id, run_id=run_id)


async def _submit(ctx: AppContext, user: str, session_id: str, sub: Submission) -> tuple[str, str]:
    """`submit`; when refused busy (`run_active`, `too_many_runs`), once more after ingest has
    stored everything the client may have seen: a device sees `run_end` on its stream a moment
    before this service has stored it. A mark on each shard the refusal depends on (the
    session's; for `too_many_runs`, those of the user's sessions with an active run) is
    waited on (marks.py, at most INGEST_WAIT_S), holding no lock and no pooled connection.
    Over the user's cap of waits (MAX_PENDING_DECISIONS_PER_USER) the refusal comes at once."""
    try:
        return await _submit_once(ctx, user, session_id, sub)
    except ApiError as exc:
        if exc.code not in BUSY_CODES:
            raise
        refusal = exc
    cap = ctx.settings.max_pending_decisions_per_user
    with ctx.waiting.hold(user, cap, MAX_WAITING, refusal):
        shards = {
            ctx.broker.shard(sid) for sid in await _depends_on(ctx, user, session_id, refusal)
        }
        await ctx.ingest_waits.after_ingest(ctx.broker, shards, ctx.settings.ingest_wait_s)
    return await _submit_once(ctx, user, session_id, sub)


async def _depends_on(ctx: AppContext, user: str, session_id: str, refusal: ApiError) -> list[str]:
    """The sessions whose stored runs made `refusal`."""
    if refusal.code == "run_active":
        return [session_id]
    async with ctx.database.begin() as db:
        return [session_id, *await runs.sessions_with_active_runs(db, user)]


async def _submit_once(
    ctx: AppContext, user: str, session_id: str, sub: Submission
) -> tuple[str, str]:
    async with ctx.database.begin() as db:
        return await submit(ctx, db, user, session_id, sub)


@router.post(
    "/{session_id}/audio",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def send_audio(
    session_id: str, user: UserDep, ctx: ContextDep, request: Request, client_id: ClientId = None
) -> Accepted:
    """A voice utterance (WAV bytes) in a voice session; the worker transcribes and runs it."""
    audio = await _read_wav(request)
    await limit_audio(ctx, user, len(audio), client_ip(request))
    await limit(ctx, user, "messages", client_ip(request))
    async with ctx.database.begin() as db:
        session = await get_owned(db, user, session_id)
        if session.mode != "voice":
            raise ApiError(409, "not_voice_session", "audio needs a session with mode voice")
    sub = Submission("", {}, "reject", client_id, base64.b64encode(audio).decode())
    message_id, run_id = await _submit(ctx, user, session_id, sub)
    return Accepted(message_id=message_id, run_id=run_id)


async def _read_wav(request: Request) -> bytes:
    """The utterance, a readable WAV file (415 another format, 422 `bad_audio` a corrupt or
    truncated one); BodyGuard (app.py) has already held it to MAX_AUDIO_BYTES (413)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("audio/wav", "audio/x-wav", "audio/wave"):
        raise ApiError(415, "unsupported_media_type", "Content-Type must be audio/wav")
    audio = await request.body()
    if not audio:
        raise ApiError(422, "validation_error", "body: empty audio")
    try:
        read_wav(audio)  # refused here, before anything is stored or run
    except NotWav as exc:
        raise ApiError(415, "unsupported_media_type", f"body: {exc}") from exc
    except BadWav as exc:
        raise ApiError(422, "bad_audio", f"body: {exc}") from exc
    return audio


@router.post(
    "/{session_id}/cancel", status_code=202, response_model=CancelAccepted, responses=ERRORS
)
async def cancel(session_id: str, user: UserDep, ctx: ContextDep) -> CancelAccepted:
    """Stop the active run; it ends with `run_end {"status": "cancelled"}`."""
    async with ctx.database.begin() as db:
        run_id = await cancel_active(ctx, db, user, session_id)
    return CancelAccepted(run_id=run_id)


@router.post(
    "/{session_id}/tool_decisions",
    status_code=202,
    response_model=ToolDecisionAccepted,
    responses=ERRORS,
)
async def tool_decision(
    session_id: str,
    body: ToolDecision,
    user: UserDep,
    ctx: ContextDep,
    request: Request,
    client_id: ClientId = None,
) -> ToolDecisionAccepted:
    """Approve or deny a `tool_call` that has `"requires_approval": true`: the first decision
    from any device counts (409 `already_decided` after it; 404 `unknown_call` for a call id
    that awaits no decision). Rate-limited per user (RATE_LIMIT_DECISIONS_PER_S)."""
    await limit(ctx, user, "decisions", client_ip(request))
    row = await decide(ctx, user, session_id, body, client_id)
    status = "approved" if body.approve else "denied"
    return ToolDecisionAccepted(call_id=row.call_id, approve=body.approve, status=status)
