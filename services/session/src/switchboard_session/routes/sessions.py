"""Sessions: create, list, read (with history), end."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from ..deps import ContextDep, UserDep, client_ip
from ..errors import ErrorResponse
from ..lifecycle import create_session, end_session
from ..limits import limit
from ..schemas import CreateSession, Session, SessionDetail, SessionPage
from ..store import messages, runs
from ..store.sessions import get_owned, list_owned
from ..views import detail_view, session_view

router = APIRouter(prefix="/ai/sessions", tags=["sessions"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 404, 422, 429, 503)
}


@router.post("", status_code=201, response_model=Session, responses=ERRORS)
async def create(body: CreateSession, user: UserDep, ctx: ContextDep, request: Request) -> Session:
    """Start a session; its creating device's event buffer exists from now on."""
    await limit(ctx, user, "sessions", client_ip(request))
    async with ctx.sessions.begin() as db:
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
    async with ctx.sessions.begin() as db:
        rows, next_cursor = await list_owned(db, user, status, limit, cursor)
    return SessionPage(items=[session_view(r, ctx.settings) for r in rows], next_cursor=next_cursor)


@router.get("/{session_id}", response_model=SessionDetail, responses=ERRORS)
async def get_session(session_id: str, user: UserDep, ctx: ContextDep) -> SessionDetail:
    """The session with its ordered conversation and its active run."""
    async with ctx.sessions.begin() as db:
        row = await get_owned(db, user, session_id)
        history = await messages.history(db, row.id)
        active = await runs.active_run(db, row)
        queued = await runs.count_waiting(db, row.id)
    return detail_view(row, ctx.settings, history, active, queued)


@router.delete("/{session_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_session(
    session_id: str, user: UserDep, ctx: ContextDep, request: Request
) -> Response:
    """End the session (idempotent): `session_end {"reason": "deleted"}`, active run cancelled."""
    async with ctx.sessions.begin() as db:
        row = await get_owned(db, user, session_id, lock=True)
        if row.status == "active":
            await end_session(ctx, db, row, "deleted", client_ip(request))
    return Response(status_code=204)
