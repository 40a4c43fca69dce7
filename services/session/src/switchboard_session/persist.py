"""The session store's consumer: persists `response`, `tool_*`, `agent_switch`, `error`, `run_*`
and final `stt` events, idempotently by event id (a redelivery changes nothing).

Each event is stored in its own transaction. An event that cannot be stored (unparsable, or
data Postgres refuses) is parked in `ai.dead-letters.session-store` and the rest of its message
is still stored. A transient failure requeues the message after a backoff (the next message
goes on meanwhile; nothing sleeps under the lock), at most `PERSIST_MAX_TRIES` times before it
is parked; an outage of the database is waited out without counting tries.
"""

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_events import split_batch
from switchboard_events.deadletter import DeadLetter, RetryCounter, backoff_s
from switchboard_protocol import Event, UnknownEvent, parse_event
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
from .failures import Failure, classify, sqlstate_of
from .store import approvals, messages, runs
from .store.sessions import lock_session, now, touch
from .tables import SessionRow

log = logging.getLogger(__name__)
SOURCE = "session-store"


class Duplicate(Exception):
    """The event was already persisted; its transaction is rolled back."""


@dataclass
class _Verdict:
    """What storing one message came to: events to park, or a failure to retry."""

    parked: list[tuple[bytes, DeadLetter]] = field(default_factory=list)
    retry: Failure | None = None
    error: str = ""


class Persister:
    """Stores one AMQP message at a time (in delivery order); settles it outside the lock."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._lock = asyncio.Lock()
        self._tries = RetryCounter(ctx.settings.persist_max_tries)
        self._outages = 0
        self._later: set[asyncio.Task[None]] = set()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        async with self._lock:
            verdict = await self._store_all(message)
        try:
            await self._settle(message, verdict)
        except Exception as exc:  # noqa: BLE001 - parking failed: the broker keeps it
            log.warning("could not settle a stored message (%r); requeueing it", exc)
            self._requeue_later(message, backoff_s(self._outages + 1))

    async def _store_all(self, message: AbstractIncomingMessage) -> _Verdict:
        verdict = _Verdict()
        for line in split_batch(message.body):
            try:
                event = parse_event(line)
            except (ValidationError, ValueError) as exc:
                verdict.parked.append((line, DeadLetter("invalid_event", repr(exc))))
                continue
            if isinstance(event, UnknownEvent):
                problem = f"unknown event type {event.type[:40]!r}"
                verdict.parked.append((line, DeadLetter("invalid_event", problem)))
                continue
            try:
                await self.persist(event)
            except Exception as exc:  # noqa: BLE001 - classified: park, or retry bounded
                failure = classify(exc)
                if failure is Failure.BAD_DATA:
                    error = f"SQLSTATE {sqlstate_of(exc)} {event.type} {event.id}: {exc!r}"
                    verdict.parked.append((line, DeadLetter("bad_data", error)))
                    continue
                verdict.retry, verdict.error = failure, repr(exc)
                return verdict
        return verdict

    async def _settle(self, message: AbstractIncomingMessage, verdict: _Verdict) -> None:
        if verdict.retry is None:
            self._outages = 0
            for body, letter in verdict.parked:
                await self._park(message, letter, body)
            self._tries.forget(message)
            await message.ack()
            return
        if verdict.retry is Failure.OUTAGE:
            self._outages += 1
            log.warning("database unavailable (%s); will retry", verdict.error)
            self._requeue_later(message, backoff_s(self._outages))
            return
        tries = self._tries.failed(message)
        if not self._tries.exhausted(tries):
            log.warning("persisting failed (try %d: %s); will retry", tries, verdict.error)
            self._requeue_later(message, backoff_s(tries))
            return
        await self._park(message, DeadLetter("retries_exhausted", f"{tries}: {verdict.error}"))
        self._tries.forget(message)
        await message.ack()

    async def _park(
        self, message: AbstractIncomingMessage, letter: DeadLetter, body: bytes | None = None
    ) -> None:
        await self.ctx.broker.park(SOURCE, message, letter, body)
        self.ctx.metrics.dead_letters.labels(SOURCE, letter.reason).inc()

    def _requeue_later(self, message: AbstractIncomingMessage, delay_s: float) -> None:
        """Give the message back after `delay_s` (it holds a prefetch slot meanwhile)."""
        task = asyncio.create_task(_requeue(message, delay_s))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def persist(self, event: Event) -> None:
        """Store one event in its own transaction (a duplicate is a no-op); raises what the
        database raised."""
        try:
            async with self.ctx.database.begin() as db:
                session = await lock_session(db, event.session_id)
                if session is None:
                    return
                await _HANDLERS.get(event.type, _ignore)(self.ctx, db, session, event)
                touch(session, self.ctx.settings.session_ttl_s)
        except Duplicate:
            return
        self.ctx.metrics.events_persisted.labels(event.type).inc()


async def _requeue(message: AbstractIncomingMessage, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    with contextlib.suppress(Exception):  # a lost channel has requeued it already
        await message.nack(requeue=True)


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
