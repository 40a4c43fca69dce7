"""One shard stream's ingest: store what its `StreamReader` hands over, answer its catch-ups.

`on_batch` queues a batch (waiting while PENDING_LINES lines wait: the reader's backpressure);
one task takes everything queued at once, at most every INGEST_FLUSH_MS (a transaction costs
the same for one batch as for fifty), and stores it in ONE transaction: the stored types
(persist.py), the run progress (progress.py) and the shard's stream offset (store/offsets.py).
So a row is stored exactly once, however often the stream is read again.

A poison event (unreadable JSON, or data Postgres refuses) is logged and copied to
`ai.dead-letters.session-store`, and the offset still advances without it. A transient
failure of one event is retried (the shard waits) at most PERSIST_MAX_TRIES times, then
dead-lettered; a database outage is waited out without counting.

Catch-ups are answered by the same task between transactions, so the state read is exactly
what the offsets up to `committed` made of it: that offset is the reply's `position`.

Marks (no event; marks.py, the gateways' anchors) are never stored: `on_mark` queues the mark's
id, and the next transaction advances the offset past it and sends its id with `pg_notify`
(delivered at commit), so whoever waits on it knows that everything before it is stored.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_events.deadletter import DeadLetter, backoff_s
from switchboard_protocol import PERSISTED_TYPES, ActiveRun, Event, UnknownEvent, parse_event

from . import persist, progress
from .app_context import AppContext
from .failures import Failure, classify, sqlstate_of
from .marks import CHANNEL, payloads
from .store import offsets

log = logging.getLogger(__name__)
SOURCE = "session-store"
PENDING_LINES = 4096
"""Events queued for the next transaction before the reader waits."""
STORED = frozenset(PERSISTED_TYPES)
DEADLOCK = "40P01"
Reply = Callable[[ActiveRun | None, int], Awaitable[None]]
"""Sends a catch-up answer: the session's active run and the position it is as of."""


@dataclass
class Parsed:
    """What one transaction stores: events, run progress, and the poison left out."""

    stored: list[tuple[bytes, Event]] = field(default_factory=list)
    runs: progress.RunEvents = field(default_factory=dict)
    poison: list[tuple[bytes, DeadLetter]] = field(default_factory=list)


def parse(batches: list[tuple[int, list[bytes]]]) -> Parsed:
    """Decode every line once: run events for the fold, stored types as events, poison aside."""
    parsed = Parsed()
    for _, lines in batches:
        for line in lines:
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                if not isinstance(raw, dict) or not isinstance(raw.get("session_id"), str):
                    raise ValueError("not an event object with a session_id")
                event = parse_event(line) if raw.get("type") in STORED else None
            except (ValidationError, ValueError, RecursionError) as exc:
                parsed.poison.append((line, DeadLetter("invalid_event", repr(exc))))
                continue
            if event is not None and not isinstance(event, UnknownEvent):
                parsed.stored.append((line, event))
            folded = progress.run_event(raw)
            if folded is not None:
                parsed.runs.setdefault(folded["run_id"], []).append(folded)
    return parsed


class ShardIngest:
    """The ingest of shard `shard` (stream `stream`), stored up to `committed`."""

    def __init__(self, ctx: AppContext, shard: int, stream: str, committed: int | None) -> None:
        self.ctx = ctx
        self.shard = shard
        self.stream = stream
        self.committed = committed
        """The last offset stored (None: nothing of this stream yet)."""
        self._batches: list[tuple[int, list[bytes]]] = []
        self._marks: list[str] = []
        self._queued_to = self.position
        """The offset of the last batch or mark queued (never below `committed`)."""
        self._lines = 0
        self._asks: list[tuple[str, Reply]] = []
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._tries: dict[str, int] = {}

    @property
    def position(self) -> int:
        return -1 if self.committed is None else self.committed

    async def on_batch(self, offset: int, lines: list[bytes]) -> None:
        """The reader's callback: queue the batch (offsets stored already are skipped)."""
        if self.committed is not None and offset <= self.committed:
            return
        while self._lines >= PENDING_LINES:
            self._room.clear()
            await self._room.wait()
        self._batches.append((offset, lines))
        self._queued_to = offset
        self._lines += len(lines)
        self._wake.set()

    def on_mark(self, offset: int, mark_id: str) -> None:
        """The reader's callback for a mark: the next transaction stores past it and says so."""
        self._marks.append(mark_id)
        self._queued_to = max(self._queued_to, offset)
        self._wake.set()

    def ask(self, session_id: str, reply: Reply) -> None:
        """Answer a catch-up for `session_id` (of this shard) after the current transaction."""
        self._asks.append((session_id, reply))
        self._wake.set()

    async def run(self) -> None:
        """Store (at most one transaction every INGEST_FLUSH_MS, at once when a catch-up
        waits, so that it says as much as this replica has read) and answer catch-ups between
        transactions, until cancelled; raises `offsets.Fenced` when another owner stored."""
        loop = asyncio.get_running_loop()
        interval = self.ctx.settings.ingest_flush_ms / 1000
        due = 0.0
        timer: asyncio.TimerHandle | None = None

        def fire() -> None:
            nonlocal timer
            timer = None
            self._wake.set()

        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._batches and not self._marks:
                if self._asks:
                    await self._answer()
                continue
            if loop.time() < due and not self._asks:
                # one timer at a time; a new one whenever none is pending, since asyncio may
                # run a timer a hair before its time (then time() < due still: waiting for
                # the next event instead left the last batch of a burst unstored)
                if timer is None:
                    timer = loop.call_at(due, fire)
                continue
            due = loop.time() + interval
            batches, self._batches, self._lines = self._batches, [], 0
            marks, self._marks = self._marks, []
            self._room.set()
            await self._store(batches, marks, self._queued_to)
            if self._asks:
                await self._answer()

    async def _store(
        self, batches: list[tuple[int, list[bytes]]], marks: list[str], offset: int
    ) -> None:
        """Store `batches` and advance the offset to `offset` (past `marks` too), retrying."""
        parsed = parse(batches)
        for line, letter in parsed.poison:
            await self._park(line, letter)
        skip: set[str] = set()
        outages = 0
        while True:
            events = [(line, e) for line, e in parsed.stored if e.id not in skip]
            try:
                stored = await self._transaction(events, parsed.runs, offset, marks)
            except offsets.Fenced:
                raise
            except persist.EventFailed as failed:
                if await self._failed_event(failed):
                    skip.add(failed.event.id)
                continue
            except Exception as exc:  # noqa: BLE001 - the shard waits until it can store
                outages += 1
                log.warning("%s: storing a batch failed (%r); retrying", self.stream, exc)
                await asyncio.sleep(backoff_s(outages))
                continue
            self._tries.clear()
            for event_type in stored:
                self.ctx.metrics.events_persisted.labels(event_type).inc()
            return

    async def _transaction(
        self,
        events: list[tuple[bytes, Event]],
        runs: progress.RunEvents,
        offset: int,
        marks: list[str],
    ) -> list[str]:
        """Store, fold, advance the offset and notify the marks in one transaction; the types
        stored."""
        async with self.ctx.database.begin() as db:
            stored = await persist.store_events(self.ctx, db, events)
            await progress.fold_runs(db, runs, self.ctx.settings.run_lease_s)
            await offsets.advance(db, self.stream, self.shard, self.committed, offset)
            await _notify(db, marks)
        self.committed = offset
        return stored

    async def _failed_event(self, failed: persist.EventFailed) -> bool:
        """Whether to leave the event out (dead-lettered); otherwise wait before the retry."""
        event, cause = failed.event, failed.cause
        failure = classify(cause)
        if failure is Failure.OUTAGE:
            log.warning("database unavailable (%r); will retry", cause)
            await asyncio.sleep(backoff_s(3))
            return False
        if failure is Failure.BAD_DATA:
            error = f"SQLSTATE {sqlstate_of(cause)} {event.type} {event.id}: {cause!r}"
            await self._park(failed.line, DeadLetter("bad_data", error))
            return True
        if sqlstate_of(cause) == DEADLOCK:  # the other transaction's doing, not the event's
            log.warning("persisting %s met a deadlock; will retry", event.id)
            await asyncio.sleep(backoff_s(1))
            return False
        tries = self._tries.get(event.id, 0) + 1
        self._tries[event.id] = tries
        if tries >= self.ctx.settings.persist_max_tries:
            await self._park(failed.line, DeadLetter("retries_exhausted", f"{tries}: {cause!r}"))
            return True
        log.warning("persisting %s failed (try %d: %r); will retry", event.id, tries, cause)
        await asyncio.sleep(backoff_s(tries))
        return False

    async def _park(self, line: bytes, letter: DeadLetter) -> None:
        """Dead-letter one event (confirmed), retrying while the broker is away."""
        tries = 0
        while True:
            try:
                await self.ctx.broker.park_event(SOURCE, self.stream, line, letter)
                break
            except Exception as exc:  # noqa: BLE001 - the shard waits for the broker
                tries += 1
                log.warning("could not dead-letter an event (%r); retrying", exc)
                await asyncio.sleep(backoff_s(tries))
        self.ctx.metrics.dead_letters.labels(SOURCE, letter.reason).inc()

    async def _answer(self) -> None:
        """Answer every waiting catch-up from one read, as of `committed`."""
        asks, self._asks = self._asks, []
        try:
            async with self.ctx.database.begin() as db:
                views = await progress.catch_up_views(
                    db, {sid for sid, _ in asks}, self.ctx.settings.catchup_text_chars
                )
        except Exception as exc:  # noqa: BLE001 - asked again after a pause
            log.warning("catch-up not answered (%r); retrying", exc)
            self._asks = asks + self._asks
            await asyncio.sleep(self.ctx.settings.broker_retry_s)
            self._wake.set()
            return
        position = self.position
        for session_id, reply in asks:
            try:
                await reply(views.get(session_id), position)
            except Exception as exc:  # noqa: BLE001 - the asker times out and asks again
                log.warning("catch-up reply not sent (%r)", exc)


async def _notify(db: AsyncSession, marks: list[str]) -> None:
    """Send the marks' ids on marks.CHANNEL when `db`'s transaction commits."""
    for payload in payloads(marks):
        await db.execute(select(func.pg_notify(CHANNEL, payload)))
