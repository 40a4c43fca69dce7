"""The audit log: who did what, when, from where."""

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..tables import AuditRow

log = logging.getLogger(__name__)


def record(
    db: AsyncSession,
    action: str,
    *,
    user_id: str | None,
    session_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Add an audit row to the caller's transaction."""
    db.add(AuditRow(user_id=user_id, action=action, session_id=session_id, ip=ip, detail=detail))


async def record_now(
    sessions: async_sessionmaker[AsyncSession],
    action: str,
    *,
    user_id: str | None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """An audit row in its own transaction; best effort (never fails the request)."""
    try:
        async with sessions.begin() as db:
            record(db, action, user_id=user_id, ip=ip, **detail)
    except Exception as exc:  # noqa: BLE001 - auditing must not break the answer
        log.warning("audit %s not written: %r", action, exc)
