"""Applying the per-user rate limits (and auditing every refusal)."""

from typing import Any

from .app_context import AppContext
from .errors import ApiError
from .store import audit, ratelimit


async def limit(ctx: AppContext, user_id: str, kind: str, ip: str | None) -> None:
    """Count one `kind` action ("sessions" or "messages") of `user_id`; 429 past the limit."""
    per_min = {
        "sessions": ctx.settings.rate_sessions_per_min,
        "messages": ctx.settings.rate_messages_per_min,
    }[kind]
    await _hit(ctx, user_id, kind, ip, limit=per_min)


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
            await audit.record_now(ctx.database, "rate_limited", user_id=user_id, ip=ip, kind=kind)
        raise
