"""The session store's consumer: persists `response`, `tool_*`, `agent_switch`, `error` and
`run_*` events, idempotently by event id (a redelivery changes nothing)."""

import asyncio
import json
import logging
from typing import Any

import sqlalchemy.exc
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_events import Event, events_of
from switchboard_events.models import (
    AgentSwitchEvent,
    ErrorEvent,
    ResponseEvent,
    RunEndEvent,
    ToolCallEvent,
    ToolResultEvent,
)

from .context import Context
from .dispatch import start_run
from .store import messages, runs
from .store.sessions import lock_session, now, touch
from .tables import SessionRow

log = logging.getLogger(__name__)


class Duplicate(Exception):
    """The event was already persisted; its transaction is rolled back."""


class Persister:
    """Handles one AMQP message at a time (in delivery order), acking once stored."""

    def __init__(self, ctx: Context, retry_s: float = 1.0) -> None:
        self.ctx = ctx
        self.retry_s = retry_s
        self._lock = asyncio.Lock()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        async with self._lock:
            try:
                events = events_of(message)
            except (ValidationError, ValueError) as exc:
                log.error("dropping unparsable message: %r", exc)
                await message.reject(requeue=False)
                return
            try:
                for event in events:
                    await self.persist(event)
            except Exception as exc:  # noqa: BLE001 - retry later, never lose the event
                log.warning("persisting failed (%r); will retry", exc)
                await asyncio.sleep(self.retry_s)
                await message.nack(requeue=True)
                return
            await message.ack()

    async def persist(self, event: Event) -> None:
        """Store one event in its own transaction (a duplicate is a no-op)."""
        try:
            async with self.ctx.sessions.begin() as db:
                session = await lock_session(db, event.session_id)
                if session is None:
                    return
                await _HANDLERS.get(event.type, _ignore)(self.ctx, db, session, event)
                touch(session, self.ctx.settings.session_ttl_s)
        except Duplicate:
            return
        except sqlalchemy.exc.DataError as exc:  # bad data never gets better: skip, not retry
            log.error("event %s (%s) cannot be stored, skipped: %r", event.id, event.type, exc)
            return
        self.ctx.metrics.events_persisted.labels(event.type).inc()


async def _insert(db: AsyncSession, event: Event, **fields: Any) -> None:
    stored = await messages.add_message(
        db, session_id=event.session_id, event_id=event.id, run_id=event.run_id, **fields
    )
    if not stored:
        raise Duplicate(event.id)


async def _response(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, ResponseEvent)
    data = event.data
    meta = {"agent_type": event.agent_type}
    await _insert(
        db, event, message_id=data.message_id, role="assistant", content=data.content, metadata=meta
    )
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is not None:
        run.response_message_id = data.message_id


async def _tool(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, ToolCallEvent | ToolResultEvent)
    tool = event.data.model_dump(by_alias=True)
    tool["kind"] = "call" if event.type == "tool_call" else "result"
    content = "" if event.type == "tool_call" else json.dumps(tool.get("result"), default=str)
    await _insert(db, event, message_id=event.id, role="tool", content=content, tool=tool)


async def _agent_switch(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, AgentSwitchEvent)
    session.agent_type = event.data.to


async def _error(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, ErrorEvent)
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is not None:
        run.error = f"{event.data.code}: {event.data.message}"


async def _run_start(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is not None and run.status == "queued":
        run.status = "running"
        run.started_at = event.timestamp


async def _run_end(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    """Record the outcome; when it was the active run, start the next waiting one."""
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is None:
        return
    assert isinstance(event, RunEndEvent)
    if run.status not in runs.TERMINAL:
        run.status = event.data.status
        run.ended_at = now()
    if session.active_run_id != run.id:
        return
    session.active_run_id = None
    nxt = await runs.next_waiting(db, session.id) if session.status == "active" else None
    if nxt is not None:
        await start_run(ctx, session, nxt)


async def _ignore(ctx: Context, db: AsyncSession, session: SessionRow, event: Event) -> None:
    """`session_start` / `session_end`: this service wrote them, the rows already say so."""


_HANDLERS = {
    "response": _response,
    "tool_call": _tool,
    "tool_result": _tool,
    "agent_switch": _agent_switch,
    "error": _error,
    "run_start": _run_start,
    "run_end": _run_end,
    "session_start": _ignore,
    "session_end": _ignore,
}
