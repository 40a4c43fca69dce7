"""Audit rows of refused requests (bad tokens, rate limits): one per source and window.

A source is the action, the address and the user (none for a bad token). Its first refusal in
AUDIT_REFUSED_WINDOW_S writes its row at once, as before; the refusals after it in that window
are only counted, and when the window is over one more row carries `"repeats": N` (and the
last refusal's detail), written by the sweeper, the source's next refusal, or at shutdown. A
flood of refused requests thus costs a source two writes a window, not one a request. At most
`max_sources` sources are counted at once; past that the oldest is written early.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .store import audit

MAX_SOURCES = 10_000
Source = tuple[str, str | None, str | None]
"""(action, ip, user_id)."""


@dataclass
class _Window:
    started: float
    repeats: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


class RefusalAudit:
    def __init__(self, window_s: float = 60.0, max_sources: int = MAX_SOURCES) -> None:
        self.window_s = window_s
        self.max_sources = max_sources
        self._windows: OrderedDict[Source, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    async def record(
        self,
        sessions: async_sessionmaker[AsyncSession],
        action: str,
        *,
        user_id: str | None,
        ip: str | None,
        **detail: Any,
    ) -> None:
        """Audit one refusal: its row now when its source has none this window, else a count
        (best effort: auditing never fails the request)."""
        source: Source = (action, ip, user_id)
        now = time.monotonic()
        window = self._windows.get(source)
        if window is not None and now - window.started < self.window_s:
            window.repeats += 1
            window.detail = detail
            return
        due = [(source, self._windows.pop(source))] if window is not None else []
        self._windows[source] = _Window(now)
        while len(self._windows) > self.max_sources:
            due.append(self._windows.popitem(last=False))
        rows: list[tuple[Source, dict[str, Any]]] = [(source, detail)]
        await self._write(sessions, rows + _summaries(due, self.window_s))

    async def flush(
        self, sessions: async_sessionmaker[AsyncSession], *, every: bool = False
    ) -> int:
        """Write the counts of windows that are over (every window when `every`); how many
        rows were written."""
        now = time.monotonic()
        over = [s for s, w in self._windows.items() if every or now - w.started >= self.window_s]
        due = [(source, self._windows.pop(source)) for source in over]
        rows = _summaries(due, self.window_s)
        await self._write(sessions, rows)
        return len(rows)

    @staticmethod
    async def _write(
        sessions: async_sessionmaker[AsyncSession], rows: list[tuple[Source, dict[str, Any]]]
    ) -> None:
        if not rows:
            return
        try:
            async with sessions.begin() as db:
                for (action, ip, user_id), detail in rows:
                    audit.record(db, action, user_id=user_id, ip=ip, **detail)
        except Exception as exc:  # noqa: BLE001 - auditing must not break the answer
            audit.log.warning("audit of %d refusals not written: %r", len(rows), exc)


def _summaries(
    due: list[tuple[Source, _Window]], window_s: float
) -> list[tuple[Source, dict[str, Any]]]:
    """One row per window that counted repeats (a window of one refusal was written already)."""
    return [
        (source, {**window.detail, "repeats": window.repeats, "window_s": window_s})
        for source, window in due
        if window.repeats
    ]
