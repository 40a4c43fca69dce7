"""Operations: health, the caller's counts, Prometheus metrics, dev tokens."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from switchboard_edge.auth import issue_dev_token

from ..database import database_ok
from ..deps import ContextDep, UserDep
from ..errors import ErrorResponse
from ..schemas import DevToken, DevTokenRequest, Health, Stats
from ..store import devices
from ..tables import MessageRow, RunRow, SessionRow

router = APIRouter(tags=["operations"])
dev_router = APIRouter(tags=["dev"])


@router.get("/ai/health", response_model=Health, responses={503: {"model": Health}})
async def health(ctx: ContextDep) -> JSONResponse:
    """200 when the database and broker answer; 503 naming the part that does not."""
    checks = {
        "database": "ok" if await database_ok(ctx.engine) else "down",
        "broker": "ok" if ctx.broker.ready else "down",
    }
    down = [name for name, state in checks.items() if state != "ok"]
    body: dict[str, object] = {"status": "unavailable" if down else "ok", "checks": checks}
    if down:
        body["error"] = {"code": "unavailable", "message": f"unavailable: {', '.join(down)}"}
    return JSONResponse(body, status_code=503 if down else 200)


@router.get("/ai/stats", response_model=Stats, responses={401: {"model": ErrorResponse}})
async def stats(user: UserDep, ctx: ContextDep) -> Stats:
    """Counts for the caller; `live_connections` counts the devices registered on their active
    sessions (what the device caps count: the broker keeps nothing per device)."""
    mine = select(SessionRow.id).where(SessionRow.user_id == user).scalar_subquery()
    async with ctx.database.begin() as db:
        total = await db.scalar(select(func.count()).where(SessionRow.user_id == user))
        active = await db.scalar(
            select(func.count()).where(SessionRow.user_id == user, SessionRow.status == "active")
        )
        msgs = await db.scalar(select(func.count()).where(MessageRow.session_id.in_(mine)))
        nruns = await db.scalar(select(func.count()).where(RunRow.session_id.in_(mine)))
        owned = await devices.count_for_user(db, user)
    return Stats(
        user_id=user,
        sessions=total or 0,
        active_sessions=active or 0,
        messages=msgs or 0,
        runs=nruns or 0,
        live_connections=owned,
    )


@router.get("/metrics", response_class=Response)
async def metrics(ctx: ContextDep) -> Response:
    """Prometheus text format."""
    try:
        waiting = await ctx.broker.dead_letter_depths()
    except Exception:  # noqa: BLE001 - a scrape never fails for the broker
        waiting = {}
    for source, count in waiting.items():
        ctx.metrics.dead_letters_waiting.labels(source).set(count)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@dev_router.post("/ai/dev/token", response_model=DevToken)
async def dev_token(body: DevTokenRequest, ctx: ContextDep) -> DevToken:
    """A token for `user_id` (exists only when SWITCHBOARD_ENV=dev)."""
    return DevToken(token=issue_dev_token(body.user_id, ctx.settings))
