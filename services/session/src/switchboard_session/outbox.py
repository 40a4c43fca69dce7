"""The transactional outbox: what a transaction announces is written in that transaction.

Events, run requests, cancels and tool decisions are rows of `outbox`, inserted with the state
they announce (one commit, or none of it). `relay.py` publishes them after the commit. Every
writer holds the session row's lock (`get_owned(lock=True)`, `lock_session`, the sweeper's
`FOR UPDATE`), so one session's rows get ids in commit order, and the relay publishes them in
`id` order.
"""

import asyncio

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from switchboard_events.codec import encode
from switchboard_protocol import Event, RunCancel, RunRequest, ToolDecisionCommand, dumps

from .tables import OutboxRow

_WAKES = "outbox_wakes"
"""`AsyncSession.info` key: the relay of this session's transaction is woken after commit."""


class Outbox:
    """Writes outbox rows; `committed` is set after a commit that wrote any (the relay waits
    on it, so a message goes out right after its commit, without a polling delay)."""

    def __init__(self) -> None:
        self.committed = asyncio.Event()

    async def event(self, db: AsyncSession, event: Event) -> None:
        await self._add(db, event.session_id, "event", event.type, encode(event).decode())

    async def run_request(self, db: AsyncSession, request: RunRequest) -> None:
        """A run request (store/runs.py `run_request`) for the workers."""
        await self._add(db, request.session_id, "run", "run", dumps(request))

    async def cancel(self, db: AsyncSession, run_id: str, session_id: str) -> None:
        body = dumps(RunCancel(run_id=run_id, session_id=session_id))
        await self._add(db, session_id, "cancel", run_id, body)

    async def decision(self, db: AsyncSession, decision: ToolDecisionCommand) -> None:
        """A tool decision for the run worker waiting on its call (`approval.<call_id>`)."""
        await self._add(db, decision.session_id, "decision", decision.call_id, dumps(decision))

    async def _add(
        self, db: AsyncSession, session_id: str, kind: str, routing: str, body: str
    ) -> None:
        """Insert now (one statement each, so ids follow the order of the calls)."""
        row = {"session_id": session_id, "kind": kind, "routing": routing, "body": body}
        await db.execute(insert(OutboxRow).values(**row))
        if not db.info.get(_WAKES):
            db.info[_WAKES] = True
            sa_event.listen(db.sync_session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, session: Session) -> None:
        session.info.pop(_WAKES, None)
        self.committed.set()
