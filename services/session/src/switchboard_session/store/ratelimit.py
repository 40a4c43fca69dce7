"""Per-user rate limits whose state lives in Postgres, so they hold across replicas.

One row per key: a window that opens at the first hit and lasts `window_s`; each hit is one
upsert that returns the window's count.
"""

import math
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import ApiError

_HIT = text(
    """
    WITH clock AS (
      SELECT clock_timestamp() AS now, clock_timestamp() - make_interval(secs => :w) AS stale
    )
    INSERT INTO rate_limits (key, window_start, count)
    SELECT :key, now, :cost FROM clock
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN rate_limits.window_start <= (SELECT stale FROM clock)
                   THEN :cost ELSE rate_limits.count + :cost END,
      window_start = CASE WHEN rate_limits.window_start <= (SELECT stale FROM clock)
                   THEN EXCLUDED.window_start ELSE rate_limits.window_start END
    RETURNING count, window_start, (SELECT now FROM clock)
    """
)


_HIT_MANY = text(
    """
    WITH clock AS (
      SELECT clock_timestamp() AS now, clock_timestamp() - make_interval(secs => :w) AS stale
    ), hits AS (
      SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:costs AS int[])) AS h(key, cost)
    )
    INSERT INTO rate_limits (key, window_start, count)
    SELECT hits.key, clock.now, hits.cost FROM hits, clock ORDER BY hits.key
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN rate_limits.window_start <= (SELECT stale FROM clock)
                   THEN EXCLUDED.count ELSE rate_limits.count + EXCLUDED.count END,
      window_start = CASE WHEN rate_limits.window_start <= (SELECT stale FROM clock)
                   THEN EXCLUDED.window_start ELSE rate_limits.window_start END
    RETURNING key, count, window_start, (SELECT now FROM clock)
    """
)


async def hit_many(
    db: AsyncSession, costs: dict[str, int], window_s: float
) -> dict[str, tuple[int, int]]:
    """Count each key's cost in one statement (keys in order, so concurrent callers lock rows
    in the same order); each key's (count in its window, seconds until the window ends)."""
    keys = sorted(costs)
    params = {"keys": keys, "costs": [costs[k] for k in keys], "w": window_s}
    rows = (await db.execute(_HIT_MANY, params)).all()
    return {str(r[0]): (int(r[1]), _retry_after(r[2], r[3], window_s)) for r in rows}


async def hit(
    db: AsyncSession,
    key: str,
    limit: int,
    window_s: float = 60.0,
    *,
    cost: int = 1,
    code: str = "rate_limited",
    unit: str = "requests",
) -> None:
    """Count `cost` on `key`; 429 `code` with Retry-After once over `limit` in the window.

    The caller's transaction is rolled back by the error, so a refused hit costs nothing."""
    row = (await db.execute(_HIT, {"key": key, "w": window_s, "cost": cost})).one()
    count, started, now = int(row[0]), row[1], row[2]
    if count > limit:
        raise ApiError(
            429,
            code,
            f"more than {limit} {unit} in {window_s:g}s; retry later",
            headers={"Retry-After": str(_retry_after(started, now, window_s))},
        )


def _retry_after(started: datetime, now: datetime, window_s: float) -> int:
    return max(1, math.ceil(window_s - (now - started).total_seconds()))
