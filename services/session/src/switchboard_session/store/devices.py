"""A session's devices (`client_ids`): registered on first connect, capped per session and user."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import ApiError
from ..settings import SessionSettings
from ..tables import SessionRow


async def register(
    db: AsyncSession, settings: SessionSettings, session: SessionRow, client_id: str
) -> None:
    """Add `client_id` to the session's devices; 429 `too_many_devices` over a cap."""
    query = (
        select(SessionRow)
        .where(SessionRow.id == session.id)
        .with_for_update()
        .execution_options(populate_existing=True)  # the caller's copy may be stale
    )
    locked = (await db.execute(query)).scalar_one_or_none()
    if locked is None or client_id in locked.client_ids:
        return
    if len(locked.client_ids) >= settings.max_devices_per_session:
        raise ApiError(
            429,
            "too_many_devices",
            f"a session may have {settings.max_devices_per_session} devices "
            "(MAX_DEVICES_PER_SESSION)",
        )
    if await count_for_user(db, session.user_id) >= settings.max_devices_per_user:
        raise ApiError(
            429,
            "too_many_devices",
            f"a user may have {settings.max_devices_per_user} devices over their active "
            "sessions (MAX_DEVICES_PER_USER)",
        )
    locked.client_ids = [*locked.client_ids, client_id]


async def count_for_user(db: AsyncSession, user_id: str) -> int:
    query = select(func.coalesce(func.sum(func.cardinality(SessionRow.client_ids)), 0)).where(
        SessionRow.user_id == user_id, SessionRow.status == "active"
    )
    return int((await db.execute(query)).scalar_one())
