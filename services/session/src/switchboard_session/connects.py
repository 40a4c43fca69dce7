"""Connect budgets. Every WebSocket connect reaches the session service as a device check (alone
or in a gateway's batch, access.py), so counting connects here, in Postgres, holds across
gateway and session replicas: RATE_LIMIT_CONNECTS_PER_MIN per user and
RATE_LIMIT_DEVICE_CONNECTS_PER_MIN per device (session and `client_id`). Refused connects
count too, so a client that keeps hammering stays refused until its window ends; the SDKs
back off on the 4429 this becomes."""

import hashlib
from collections import Counter
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from .app_context import AppContext
from .errors import ApiError
from .store import ratelimit

WINDOW_S = 60.0
Connect = tuple[str, str, str]
"""(user, session id, client id)."""


def _keys(user: str, session_id: str, client_id: str) -> tuple[str, str]:
    """The user's key and the device's (hashed: the three names may be 383 characters)."""
    device = hashlib.sha256(f"{user}\0{session_id}\0{client_id}".encode()).hexdigest()[:32]
    return f"connects:{user}", f"device_connects:{device}"


async def over_budget(
    ctx: AppContext, connects: Sequence[Connect], db: AsyncSession | None = None
) -> list[ApiError | None]:
    """Count these connects (one statement; in `db`'s transaction when given, else in one of
    its own); for each, in order, None or its 429."""
    if not connects:
        return []
    keys = [_keys(*connect) for connect in connects]
    costs = Counter(key for pair in keys for key in pair)
    if db is not None:
        counts = await ratelimit.hit_many(db, costs, WINDOW_S)
    else:
        async with ctx.database.begin() as own:
            counts = await ratelimit.hit_many(own, costs, WINDOW_S)
    settings = ctx.settings
    limits = (
        (settings.rate_connects_per_min, "for this user"),
        (settings.rate_device_connects_per_min, "for this device"),
    )
    seen: Counter[str] = Counter()
    refusals: list[ApiError | None] = []
    for pair in keys:
        refusal = None
        for key, (limit, whose) in zip(pair, limits, strict=True):
            seen[key] += 1
            count, retry_after = counts[key]
            if refusal is None and count - costs[key] + seen[key] > limit:
                refusal = _refusal(limit, whose, retry_after)
        refusals.append(refusal)
    return refusals


def _refusal(limit: int, whose: str, retry_after: int) -> ApiError:
    return ApiError(
        429,
        "connect_rate_limited",
        f"over {limit} connects a minute {whose}; retry in {retry_after}s",
        headers={"Retry-After": str(retry_after)},
    )
