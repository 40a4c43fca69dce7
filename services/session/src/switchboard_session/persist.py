"""Storing events: `response`, `tool_*`, `agent_switch`, `error`, `run_*` and final `stt`.

Ingest (ingest.py) calls `store_events` with a batch's stored types inside the transaction
that also folds the batch's run progress and advances the shard's stream offset, so each
event is stored exactly once. A message row is still unique by event id: an event the outbox
relay published twice (at least once) is stored once. A failure is raised as `EventFailed`,
naming the event, so ingest can retry it (bounded) or dead-letter it and go on without it.
"""

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import Event
from switchboard_protocol.events import (
    AgentSwitchEvent,
    ErrorEvent,
    ResponseEvent,
    RunEndEvent,
    SttEvent,
    ToolCallData,
    ToolCallEvent,
    ToolResultData,
    ToolResultEvent,
)

from .app_context import AppContext
from .dispatch import start_run
from .store import approvals, messages, runs
from .store.sessions import now, touch
from .tables import MessageRow, SessionRow

MESSAGE_TYPES = frozenset({"response", "tool_call", "tool_result"})
"""The types stored as a message row (unique by event id)."""


class Duplicate(Exception):
    """The event's message row exists already (a race the batch's check did not see)."""


class EventFailed(Exception):
    """Storing `event` (encoded as `line`) raised `cause`."""

    def __init__(self, line: bytes, event: Event, cause: BaseException) -> None:
        super().__init__(f"{event.type} {event.id}: {cause!r}")
        self.line, self.event, self.cause = line, event, cause


async def store_events(
    ctx: AppContext, db: AsyncSession, events: list[tuple[bytes, Event]]
) -> list[str]:
    """Store `(line, event)` pairs in stream order in `db`'s transaction, their sessions' rows
    locked first (in id order, as one statement); the types stored (for metrics)."""
    if not events:
        return []
    sessions = await _lock_sessions(db, {event.session_id for _, event in events})
    known = await _stored_ids(db, [e.id for _, e in events if e.type in MESSAGE_TYPES])
    stored: list[str] = []
    for line, event in events:
        session = sessions.get(event.session_id)
        if session is None:
            continue  # deleted meanwhile (or never created here): nothing to store it in
        if event.type in MESSAGE_TYPES:
            if event.id in known:
                continue
            known.add(event.id)
        try:
            await store_event(ctx, db, session, event)
        except Exception as exc:
            raise EventFailed(line, event, exc) from exc
        stored.append(event.type)
    return stored


async def store_event(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    """Store one event of `session` (its row locked) and count it as activity."""
    await _HANDLERS.get(event.type, _ignore)(ctx, db, session, event)
    touch(session, ctx.settings.session_ttl_s)


async def _lock_sessions(db: AsyncSession, ids: set[str]) -> dict[str, SessionRow]:
    query = select(SessionRow).where(SessionRow.id.in_(sorted(ids)))
    query = query.order_by(SessionRow.id).with_for_update()
    return {row.id: row for row in (await db.execute(query)).scalars()}


async def _stored_ids(db: AsyncSession, event_ids: list[str]) -> set[str]:
    """Which of these events have their message row already."""
    if not event_ids:
        return set()
    query = select(MessageRow.event_id).where(MessageRow.event_id.in_(event_ids))
    return {str(event_id) for event_id in (await db.execute(query)).scalars()}


async def _insert(db: AsyncSession, event: Event, **fields: Any) -> None:
    stored = await messages.add_message(
        db, session_id=event.session_id, event_id=event.id, run_id=event.run_id, **fields
    )
    if not stored:
        raise Duplicate(event.id)


async def _response(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, ResponseEvent)
    data = event.data
    meta = {"agent_type": event.agent_type}
    await _insert(
        db, event, message_id=data.message_id, role="assistant", content=data.content, metadata=meta
    )
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is not None:
        run.response_message_id = data.message_id


async def _tool(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, ToolCallEvent | ToolResultEvent)
    tool = event.data.model_dump(mode="json", by_alias=True)
    tool["kind"] = "call" if event.type == "tool_call" else "result"
    content = "" if event.type == "tool_call" else json.dumps(tool.get("result"), default=str)
    await _insert(db, event, message_id=event.id, role="tool", content=content, tool=tool)
    await _approval_state(db, event)


async def _approval_state(db: AsyncSession, event: ToolCallEvent | ToolResultEvent) -> None:
    """A call that needs approval opens its row; an `approval_timeout` result closes it."""
    data = event.data
    if isinstance(data, ToolCallData) and data.requires_approval and event.run_id:
        expires = data.approval_expires_at or event.timestamp
        await approvals.open_approval(
            db,
            call_id=data.call_id,
            session_id=event.session_id,
            run_id=event.run_id,
            tool_name=data.tool_name,
            expires_at=expires,
        )
    elif isinstance(data, ToolResultData) and data.error == "approval_timeout":
        await approvals.close_pending(db, approvals.TIMED_OUT, call_id=data.call_id)


async def _agent_switch(
    ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event
) -> None:
    assert isinstance(event, AgentSwitchEvent)
    session.agent_type = event.data.to


async def _error(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    assert isinstance(event, ErrorEvent)
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is not None:
        run.error = f"{event.data.code}: {event.data.message}"


async def _run_start(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is not None and run.status == "queued":
        run.status = "running"
        run.started_at = event.timestamp


async def _run_end(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    """Record the outcome; when it was the active run, start the next waiting one."""
    run = await runs.get_run(db, event.run_id) if event.run_id else None
    if run is None:
        return
    assert isinstance(event, RunEndEvent)
    await approvals.close_pending(db, approvals.RUN_ENDED, run_id=run.id)
    if run.status not in runs.TERMINAL:
        run.status = event.data.status
        run.ended_at = now()
    if ctx.settings.audio_retention_s == 0:
        run.audio_b64 = None  # kept longer only when AUDIO_RETENTION_S says (the sweeper)
    if session.active_run_id != run.id:
        return
    session.active_run_id = None
    nxt = await runs.next_waiting(db, session.id) if session.status == "active" else None
    if nxt is not None:
        await start_run(ctx, db, session, nxt)


async def _stt(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    """An utterance's message is stored empty on upload; its final transcript becomes its text,
    so history, titles and the model's next turns hold what was said."""
    assert isinstance(event, SttEvent)
    run = await runs.get_run(db, event.run_id) if event.run_id and event.data.final else None
    if run is not None and run.message_id:
        await messages.fill_transcript(db, run.message_id, event.data.text)


async def _ignore(ctx: AppContext, db: AsyncSession, session: SessionRow, event: Event) -> None:
    """`session_start` / `session_end`: this service wrote them, the rows already say so."""


_HANDLERS = {
    "response": _response,
    "tool_call": _tool,
    "tool_result": _tool,
    "agent_switch": _agent_switch,
    "error": _error,
    "run_start": _run_start,
    "run_end": _run_end,
    "stt": _stt,
    "session_start": _ignore,
    "session_end": _ignore,
}
