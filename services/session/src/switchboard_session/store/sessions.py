"""Queries on the sessions table (ownership is part of every lookup)."""

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import ScalarSelect, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import NAME_RE

from ..errors import ApiError, not_found
from ..tables import MessageRow, SessionRow

TITLE_CHARS = 80
"""A session's title is its first user message, cut to this many characters."""


def now() -> datetime:
    return datetime.now(UTC)


async def get_owned(
    db: AsyncSession, user_id: str, session_id: str, *, lock: bool = False
) -> SessionRow:
    """The caller's session (row-locked when `lock`), else 404 (foreign ones too)."""
    if not NAME_RE.fullmatch(session_id):  # no such id can exist: never send it to Postgres
        raise not_found()
    query = select(SessionRow).where(SessionRow.id == session_id, SessionRow.user_id == user_id)
    if lock:
        query = query.with_for_update()
    row = (await db.execute(query)).scalar_one_or_none()
    if row is None:
        raise not_found()
    return row


async def lock_session(db: AsyncSession, session_id: str) -> SessionRow | None:
    query = select(SessionRow).where(SessionRow.id == session_id).with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


def touch(row: SessionRow, ttl_s: float) -> None:
    """Activity: push the expiry out by the TTL."""
    stamp = now()
    row.last_activity_at = stamp
    row.updated_at = stamp
    if row.status == "active":
        row.expires_at = stamp + timedelta(seconds=ttl_s)


def encode_cursor(row: SessionRow) -> str:
    raw = json.dumps({"c": row.created_at.isoformat(), "i": row.id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_CHARS = 512


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor from `encode_cursor` holds; 422 for anything else, so
    nothing odd (a lone surrogate, a naive or overflowing time) ever reaches Postgres."""
    bad = ApiError(422, "validation_error", "cursor: not a cursor this API returned")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        created, sid = datetime.fromisoformat(data["c"]), data["i"]
        if created.tzinfo is None or not isinstance(sid, str) or not NAME_RE.fullmatch(sid):
            raise bad
        return created.astimezone(UTC), sid
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise bad from exc


def _title() -> ScalarSelect[str | None]:
    """The session's first user message, cut to TITLE_CHARS (null before the first one); one
    index lookup per session on `uq_messages_session_seq`."""
    return (
        select(func.left(MessageRow.content, TITLE_CHARS))
        .where(MessageRow.session_id == SessionRow.id, MessageRow.role == "user")
        .order_by(MessageRow.seq)
        .limit(1)
        .correlate(SessionRow)
        .scalar_subquery()
    )


async def title_of(db: AsyncSession, session_id: str) -> str | None:
    """One session's title (as `list_owned` gives it)."""
    query = select(_title()).select_from(SessionRow).where(SessionRow.id == session_id)
    return (await db.execute(query)).scalar_one_or_none()


async def list_owned(
    db: AsyncSession, user_id: str, status: str | None, limit: int, cursor: str | None
) -> tuple[list[tuple[SessionRow, str | None]], str | None]:
    """The caller's sessions with their titles, newest first, one page and the cursor of the
    next."""
    query = select(SessionRow, _title()).where(SessionRow.user_id == user_id)
    if status:
        query = query.where(SessionRow.status == status)
    if cursor:
        created, sid = decode_cursor(cursor)
        query = query.where(
            or_(
                SessionRow.created_at < created,
                and_(SessionRow.created_at == created, SessionRow.id < sid),
            )
        )
    query = query.order_by(SessionRow.created_at.desc(), SessionRow.id.desc()).limit(limit + 1)
    rows = [(row, title) for row, title in (await db.execute(query)).tuples()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][0]) if more else None
