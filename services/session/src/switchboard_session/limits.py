"""Applying the per-user rate limits (and auditing every refusal)."""

from .context import Context
from .errors import ApiError
from .store import audit, ratelimit


async def limit(ctx: Context, user_id: str, kind: str, ip: str | None) -> None:
    """Count one `kind` action ("sessions" or "messages") of `user_id`; 429 past the limit."""
    per_min = {
        "sessions": ctx.settings.rate_sessions_per_min,
        "messages": ctx.settings.rate_messages_per_min,
    }[kind]
    try:
        async with ctx.sessions.begin() as db:
            await ratelimit.hit(db, f"{kind}:{user_id}", per_min)
    except ApiError as exc:
        if exc.status == 429:
            await audit.record_now(ctx.sessions, "rate_limited", user_id=user_id, ip=ip, kind=kind)
        raise
