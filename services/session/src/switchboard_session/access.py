"""Device checks: may a token's owner connect this device of this session (the gateway asks on
every WebSocket connect)? One device (`POST /ai/sessions/{id}/devices`) or many at once
(`POST /internal/device-checks`, what a gateway sends when connects queue up, as in a reconnect
storm): each device gets the same answer either way. A batch counts its connects and reads all its
sessions in one transaction (one upsert, one query, no session row locked); only a device seen
for the first time costs a transaction of its own (its registration, as on the single route), so
one device's refusal or failure is its own.

The same read tells the gateway, for a known device of a session with no run in progress, the
catch-up answer it would otherwise ask for over the broker (`idle_at`, below)."""

from collections.abc import Sequence

from sqlalchemy import JSON, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_edge.auth import AuthError, verify_token
from switchboard_events.routing import shard_of
from switchboard_protocol import NAME_RE, ErrorBody, ErrorEnvelope

from . import connects
from .app_context import AppContext
from .errors import ApiError, not_found, unexpected_error
from .schemas import DeviceAccess, DeviceCheck, DeviceCheckResult, IdleAt
from .settings import SessionSettings
from .store import devices
from .store.sessions import get_owned
from .tables import SessionRow, StreamOffsetRow

BATCH_PATH = "/internal/device-checks"


async def open_device(
    db: AsyncSession, settings: SessionSettings, row: SessionRow, client_id: str
) -> DeviceAccess:
    """The session's status, mode, agent and active run; a new `client_id` of an active session
    is registered within the caps (ApiError 429 `too_many_devices` over them)."""
    if row.status == "active" and client_id not in row.client_ids:
        await devices.register(db, settings, row, client_id)
    return DeviceAccess(
        status="ended" if row.status == "ended" else "active",
        mode="voice" if row.mode == "voice" else "text",
        agent_type=row.agent_type,
        active_run_id=row.active_run_id,
    )


async def check_devices(
    ctx: AppContext, checks: Sequence[DeviceCheck], ip: str | None
) -> list[DeviceCheckResult]:
    """Each device's answer, in order: tokens first (401/403; one audited refusal for the batch's
    refusals), then the connect budgets (429 `connect_rate_limited`), then every session in one
    read (404 for a missing or foreign one), then each new device's registration on its own
    (429 over a device cap). A known device of an active session with no run in progress gets
    `idle_at` too (`_idle_at`)."""
    results: list[DeviceCheckResult | None] = [None] * len(checks)
    users: dict[int, str] = {}
    refused: list[AuthError] = []
    for i, check in enumerate(checks):
        try:
            users[i] = verify_token(check.token, ctx.settings).user_id
        except AuthError as exc:
            refused.append(exc)
            results[i] = _refusal(exc)
    if refused:  # one refusal per batch, audited per source and window (refusals.py)
        await ctx.refusals.record(
            ctx.database, "auth.failed", user_id=None, ip=ip, path=BATCH_PATH,
            reason=refused[0].reason, message=refused[0].message, devices=len(refused),
        )  # fmt: skip
    async with ctx.database.begin() as db:  # the budgets' upsert, then reads: no session lock
        over = await _within_budget(ctx, db, checks, users, results)
        rows, stored = await _sessions(ctx, db, {checks[i].session_id for i in users})
        for i, user in users.items():
            row = rows.get(checks[i].session_id)
            if row is None or row.user_id != user:
                results[i] = _error(not_found())
            elif row.status != "active" or checks[i].client_id in row.client_ids:
                access = await open_device(db, ctx.settings, row, checks[i].client_id)
                results[i] = _ok(access, _idle_at(ctx, row, stored))
    if over is not None:  # one audited refusal for the batch's (after the count committed)
        await ctx.refusals.record(
            ctx.database, "rate_limited", user_id=over, ip=ip, kind="connects"
        )
    for i in users:
        if results[i] is None:  # a new device: registered in a transaction of its own
            results[i] = await _register(ctx, checks[i].session_id, users[i], checks[i].client_id)
    return [result for result in results if result is not None]


async def _within_budget(
    ctx: AppContext,
    db: AsyncSession,
    checks: Sequence[DeviceCheck],
    users: dict[int, str],
    results: list[DeviceCheckResult | None],
) -> str | None:
    """Count every connect of a valid token (connects.py, in `db`'s transaction); one over its
    budget gets its 429 and leaves `users`. The user of the first refused, if any."""
    wanted = list(users)
    budget = await connects.over_budget(
        ctx, [(users[i], checks[i].session_id, checks[i].client_id) for i in wanted], db
    )
    refused = [(i, refusal) for i, refusal in zip(wanted, budget, strict=True) if refusal]
    first = users[refused[0][0]] if refused else None
    for i, refusal in refused:
        results[i] = _error(refusal)
        del users[i]
    return first


async def _sessions(
    ctx: AppContext, db: AsyncSession, ids: set[str]
) -> tuple[dict[str, SessionRow], dict[str, int]]:
    """The sessions of these ids (ids that cannot exist never reach Postgres) and, read in the
    same statement (one snapshot), every shard stream's stored ingest offset."""
    wanted = [sid for sid in ids if NAME_RE.fullmatch(sid)]
    if not wanted:
        return {}, {}
    streams = ctx.broker.names.streams(ctx.settings.stream_shards)
    offsets = (
        select(func.json_object_agg(StreamOffsetRow.stream, StreamOffsetRow.offset, type_=JSON))
        .where(StreamOffsetRow.stream.in_(streams))
        .scalar_subquery()
    )
    found = (await db.execute(select(SessionRow, offsets).where(SessionRow.id.in_(wanted)))).all()
    stored = next((dict(row[1]) for row in found if row[1]), {})
    return {row[0].id: row[0] for row in found}, stored


def _idle_at(ctx: AppContext, row: SessionRow, stored: dict[str, int]) -> IdleAt | None:
    """The catch-up answer for an active session with no run in progress, from the row and the
    stored offset of its shard read with it: ingest stores a shard's events, their run folds
    and its offset in one transaction, and a run is made active (under the session's lock)
    before any of its events can be in the stream, so no run of the session was in progress
    as of that offset, and what followed it is in the stream after it. None when a run is in
    progress or ingest has stored nothing of the shard yet (the gateway asks then)."""
    if row.status != "active" or row.active_run_id is not None:
        return None
    shard = shard_of(row.id, ctx.settings.stream_shards)
    position = stored.get(ctx.broker.names.stream(shard))
    return None if position is None else IdleAt(shard=shard, position=int(position))


async def _register(
    ctx: AppContext, session_id: str, user: str, client_id: str
) -> DeviceCheckResult:
    """What the single route answers a new device, in a transaction of its own as there: a
    refusal or a failure is this device's alone, and no lock outlives its registration."""
    try:
        async with ctx.database.begin() as db:
            row = await get_owned(db, user, session_id)
            return _ok(await open_device(db, ctx.settings, row, client_id))
    except ApiError as exc:
        return _error(exc)
    except Exception as exc:  # noqa: BLE001 - this device's 500/503, as its own call would get
        return _error(unexpected_error(exc, f"{BATCH_PATH} registering a device"))


def _refusal(exc: AuthError) -> DeviceCheckResult:
    if exc.reason == "forbidden":
        return _error(ApiError(403, "forbidden", exc.message))
    return _error(ApiError(401, "unauthenticated", exc.message))


def _ok(access: DeviceAccess, idle_at: IdleAt | None = None) -> DeviceCheckResult:
    return DeviceCheckResult(status=200, body=access.model_dump(mode="json"), idle_at=idle_at)


def _error(exc: ApiError) -> DeviceCheckResult:
    envelope = ErrorEnvelope(error=ErrorBody(code=exc.code, message=exc.message))
    return DeviceCheckResult(status=exc.status, body=envelope.model_dump(mode="json"))
