"""Applying the per-user rate limits (refusals audited per source and window, refusals.py)."""

from typing import Any

from .app_context import AppContext
from .errors import ApiError
from .store import ratelimit


async def limit(ctx: AppContext, user_id: str, kind: str, ip: str | None) -> None:
    """Count one `kind` action ("sessions", "messages" or "decisions") of `user_id`; 429
    past the limit."""
    settings = ctx.settings
    per_window = {
        "sessions": (settings.rate_sessions_per_min, 60.0, "requests"),
        "messages": (settings.rate_messages_per_min, 60.0, "requests"),
        "decisions": (settings.rate_decisions_per_s, 1.0, "tool decisions"),
    }
    count, window_s, unit = per_window[kind]
    await _hit(ctx, user_id, kind, ip, limit=count, window_s=window_s, unit=unit)


async def limit_audio(ctx: AppContext, user_id: str, size: int, ip: str | None) -> None:
    """Count `size` audio bytes of `user_id`; 429 `audio_rate_limited` past the limit."""
    per_min = ctx.settings.rate_audio_bytes_per_min
    extra = {"cost": size, "code": "audio_rate_limited", "unit": "audio bytes"}
    await _hit(ctx, user_id, "audio_bytes", ip, limit=per_min, **extra)


async def _hit(
    ctx: AppContext, user_id: str, kind: str, ip: str | None, limit: int, **extra: Any
) -> None:
    try:
        async with ctx.database.begin() as db:
            await ratelimit.hit(db, f"{kind}:{user_id}", limit, **extra)
    except ApiError as exc:
        if exc.status == 429:
            await ctx.refusals.record(
                ctx.database, "rate_limited", user_id=user_id, ip=ip, kind=kind
            )
        raise
