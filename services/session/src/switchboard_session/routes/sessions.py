"""Sessions: create, list, read (with history), end."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import TextPiece

from .. import access, connects
from ..app_context import AppContext
from ..deps import ContextDep, UserDep, client_ip
from ..errors import ErrorResponse, not_found
from ..lifecycle import create_session, end_session
from ..limits import limit
from ..schemas import (
    CreateSession,
    DeviceAccess,
    DeviceCheckResults,
    DeviceChecks,
    OpenDevice,
    Session,
    SessionDetail,
    SessionPage,
)
from ..store import pages, runs
from ..store.sessions import get_owned, list_owned, title_of
from ..views import detail_view, session_view

DEFAULT_PAGE = 100
MAX_PAGE = 500
"""Most messages one `GET /ai/sessions/{id}` returns (`messages_limit`)."""

router = APIRouter(prefix="/ai/sessions", tags=["sessions"])
internal_router = APIRouter(include_in_schema=False)
"""Service-to-service routes: the gateway does not forward them (proxy.py)."""
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 404, 422, 429, 503)
}


@router.post("", status_code=201, response_model=Session, responses=ERRORS)
async def create(body: CreateSession, user: UserDep, ctx: ContextDep, request: Request) -> Session:
    """Start a session; its creating device's event buffer exists from now on."""
    await limit(ctx, user, "sessions", client_ip(request))
    async with ctx.database.begin() as db:
        row = await create_session(ctx, db, user, body, client_ip(request))
    return session_view(row, ctx.settings)


@router.get("", response_model=SessionPage, responses=ERRORS)
async def list_sessions(
    user: UserDep,
    ctx: ContextDep,
    status: Literal["active", "ended"] | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> SessionPage:
    """The caller's sessions, newest first; follow `next_cursor` for more."""
    async with ctx.database.begin() as db:
        rows, next_cursor = await list_owned(db, user, status, limit, cursor)
    items = [session_view(row, ctx.settings, title) for row, title in rows]
    return SessionPage(items=items, next_cursor=next_cursor)


@router.get("/{session_id}", response_model=SessionDetail, responses=ERRORS)
async def get_session(
    session_id: str,
    user: UserDep,
    ctx: ContextDep,
    messages_limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> SessionDetail:
    """The session with a page of its conversation (the newest `messages_limit` messages with
    `seq < before` within HISTORY_PAGE_BYTES, oldest first, long contents cut to their head;
    `messages_before` pages further back) and its active run."""
    budget = pages.PageBudget(ctx.settings.history_page_bytes, ctx.settings.history_content_chars)
    chars = budget.content_chars
    async with ctx.database.begin() as db:
        row = await get_owned(db, user, session_id)
        active = await runs.active_run(db, row)  # loaded whole before cut_runs defers texts
        seqs, older = await pages.page_rows(db, row.id, messages_limit, before, budget)
        history = await pages.cut_messages(db, row.id, seqs, chars)
        asked = [m.row.id for m in history if m.row.role == "user"]
        outcomes = await pages.cut_runs(db, row.id, asked, chars)
        queued = await runs.count_waiting(db, row.id)
        title = await title_of(db, row.id)
    return detail_view(row, ctx.settings, history, active, queued, older, outcomes, title)


MAX_TEXT_CHARS = 2**30
"""No stored text is longer (Postgres' 1 GB field limit); a larger offset would overflow its
int4 `substr` arguments."""
Offset = Annotated[int, Query(ge=0, le=MAX_TEXT_CHARS)]
PieceLimit = Annotated[int | None, Query(ge=1, le=MAX_TEXT_CHARS)]
PieceReader = Callable[[AsyncSession, str, str, int, int], Awaitable[TextPiece | None]]


@router.get(
    "/{session_id}/messages/{message_id}/content", response_model=TextPiece, responses=ERRORS
)
async def message_content(
    session_id: str,
    message_id: str,
    user: UserDep,
    ctx: ContextDep,
    offset: Offset = 0,
    limit: PieceLimit = None,
) -> TextPiece:
    """Characters `offset`.. of a message's content, at most `limit` (and HISTORY_CONTENT_CHARS,
    the default); follow `next_offset` to the end (a `truncated` message's rest)."""
    return await _piece(
        ctx, user, session_id, pages.message_piece, message_id, offset, limit, "message"
    )


@router.get("/{session_id}/runs/{run_id}/text", response_model=TextPiece, responses=ERRORS)
async def run_text(
    session_id: str,
    run_id: str,
    user: UserDep,
    ctx: ContextDep,
    offset: Offset = 0,
    limit: PieceLimit = None,
) -> TextPiece:
    """Characters `offset`.. of a run's text (its tokens so far), at most `limit` (and
    HISTORY_CONTENT_CHARS): the head before a catch-up's or a run outcome's `text_offset`."""
    return await _piece(ctx, user, session_id, pages.run_piece, run_id, offset, limit, "run")


async def _piece(
    ctx: AppContext,
    user: str,
    session_id: str,
    read: PieceReader,
    item_id: str,
    offset: int,
    limit: int | None,
    what: str,
) -> TextPiece:
    """A piece of an owned session's text, at most HISTORY_CONTENT_CHARS; 404 naming the item."""
    most = min(limit or ctx.settings.history_content_chars, ctx.settings.history_content_chars)
    async with ctx.database.begin() as db:
        row = await get_owned(db, user, session_id)
        piece = await read(db, row.id, item_id, offset, most)
    if piece is None:
        raise not_found(what)
    return piece


@router.post("/{session_id}/devices", response_model=DeviceAccess, responses=ERRORS)
async def open_device(
    session_id: str, body: OpenDevice, user: UserDep, ctx: ContextDep, request: Request
) -> DeviceAccess:
    """A device is about to connect (the gateway asks on every WebSocket connect): the session's
    status and active run, no history; a new `client_id` is registered within the caps; 429
    `connect_rate_limited` past the connect budgets."""
    refusal = (await connects.over_budget(ctx, [(user, session_id, body.client_id)]))[0]
    if refusal is not None:
        await ctx.refusals.record(
            ctx.database, "rate_limited", user_id=user, ip=client_ip(request), kind="connects"
        )
        raise refusal
    async with ctx.database.begin() as db:
        row = await get_owned(db, user, session_id)
        return await access.open_device(db, ctx.settings, row, body.client_id)


@internal_router.post(access.BATCH_PATH, response_model=DeviceCheckResults)
async def check_devices(
    body: DeviceChecks, caller: UserDep, ctx: ContextDep, request: Request
) -> DeviceCheckResults:
    """Many devices' `POST /ai/sessions/{id}/devices` at once, each with its own token (the
    gateway's batches; not proxied to clients). Each result is what that call would answer. The
    request itself needs a valid token too (the gateway sends its first device's), as every
    body does here."""
    results = await access.check_devices(ctx, body.devices, client_ip(request))
    return DeviceCheckResults(results=results)


@router.delete("/{session_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_session(
    session_id: str, user: UserDep, ctx: ContextDep, request: Request
) -> Response:
    """End the session (idempotent): `session_end {"reason": "deleted"}`, active run cancelled."""
    async with ctx.database.begin() as db:
        row = await get_owned(db, user, session_id, lock=True)
        if row.status == "active":
            await end_session(ctx, db, row, "deleted", client_ip(request))
    return Response(status_code=204)
