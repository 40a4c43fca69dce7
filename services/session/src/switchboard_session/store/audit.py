"""The audit log: who did what, when, from where.

A row records bounded text whatever the request carried: each string in `detail` at most
`MAX_DETAIL_CHARS` characters (`path` at most `MAX_PATH_CHARS`), at most `MAX_DETAIL_KEYS`
keys, the user id at most 255 and the address at most 64; NUL and lone surrogates (which
Postgres refuses) become U+FFFD. A refused request thus costs at most a few kilobytes.
"""

import logging
import math
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..tables import AuditRow

log = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 256
MAX_PATH_CHARS = 512
MAX_DETAIL_KEYS = 16
_LIMITS = {"path": MAX_PATH_CHARS}


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
    db.add(
        AuditRow(
            user_id=_text(user_id, 255),
            action=action,
            session_id=_text(session_id, 64),
            ip=_text(ip, 64),
            detail=bounded_detail(detail),
        )
    )


def bounded_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """`detail` with every string cut to its limit (other values are kept when scalar)."""
    kept = list(detail.items())[:MAX_DETAIL_KEYS]
    return {
        _cut(str(key), 64): _value(value, _LIMITS.get(str(key), MAX_DETAIL_CHARS))
        for key, value in kept
    }


def _value(value: Any, limit: int) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int):
        return value
    return _cut(str(value), limit)


def _text(value: str | None, limit: int) -> str | None:
    return None if value is None else _cut(value, limit)


def _cut(value: str, limit: int) -> str:
    """`value` storable in Postgres and at most `limit` characters (… marks a cut)."""
    clean = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


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
