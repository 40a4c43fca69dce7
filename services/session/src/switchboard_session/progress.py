"""Catch-up state of in-progress runs, for devices that join mid-run (`active_run`).

The run-progress queue gets every event of every run (`PROGRESS_TYPES`); one consumer across
all replicas (single active consumer) folds them, in order, into the run's `progress_*` columns:
the text so far, the tool calls, the agent and the last `seq` folded. Writes are batched: one
transaction per flush (every PROGRESS_FLUSH_MS, or at once when a catch-up request waits), then
one ack (`multiple`) for everything the flush covered. Folding is idempotent by `seq`, so a
redelivery after a crash changes nothing.

A gateway asks for a session's state by putting a request (`reply_to`, `correlation_id`, body
`{"session_id"}`) on this same queue after it has bound the device's queue: every event routed
before the bind is ahead of the request here, so the answer covers all that the device's buffer
lacks, and the buffer holds everything after it (docs/internals.md, "Catch-up").

Run workers put their lease renewals here too (AMQP type `lease`, leases.py): each flush
renews them after folding, and answers each with the runs its worker no longer holds. A run's
folded events renew its lease as well; its `run_end` releases it.
"""

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractChannel
from sqlalchemy import select
from switchboard_events.routing import CATCHUP_REQUEST, LEASE_RENEWAL
from switchboard_protocol import (
    ActiveRun,
    CatchUpReply,
    CatchUpRequest,
    LeaseRenewal,
    LeaseReply,
    dumps,
)

from . import leases
from .app_context import AppContext
from .store.runs import TERMINAL
from .tables import RunRow, SessionRow
from .views import active_run_view

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Delivery:
    """What the fold keeps of a delivery. The queue is consumed on the aiormq channel itself:
    aio-pika's `IncomingMessage`, built for every delivery, was a fifth of the service's CPU
    at a thousand tokens a second."""

    tag: int
    type: str | None
    body: bytes
    reply_to: str | None
    correlation_id: str | None

    @classmethod
    def of(cls, message: aiormq.abc.DeliveredMessage) -> "Delivery":
        properties = message.header.properties
        return cls(
            message.delivery_tag or 0,
            properties.message_type,
            message.body,
            properties.reply_to,
            properties.correlation_id,
        )


class ProgressFolder:
    """Consumer callback plus the flush loop; one per broker connection."""

    def __init__(
        self, ctx: AppContext, channel: AbstractChannel, underlay: aiormq.abc.AbstractChannel
    ) -> None:
        self.ctx = ctx
        self.channel = channel
        self._underlay = underlay
        """The aiormq channel the queue is consumed on: delivery tags are its own (after a
        reconnect an ack fails here, not on the channel that replaced it)."""
        self._runs: dict[str, list[dict[str, Any]]] = {}
        self._requests: list[Delivery] = []
        self._renewals: list[Delivery] = []
        self._last: Delivery | None = None
        self._pending = asyncio.Event()
        self._urgent = asyncio.Event()

    async def __call__(self, delivered: aiormq.abc.DeliveredMessage) -> None:
        """Take one delivery (no await before it is recorded: deliveries stay in order)."""
        self._last = message = Delivery.of(delivered)
        if message.type == CATCHUP_REQUEST:
            self._requests.append(message)
            self._urgent.set()
        elif message.type == LEASE_RENEWAL:
            self._renewals.append(message)
        else:
            for event in _run_events(message.body):
                self._runs.setdefault(event["run_id"], []).append(event)
        self._pending.set()

    async def run(self) -> None:
        """Flush what arrived, at most every PROGRESS_FLUSH_MS (at once for a request)."""
        interval = self.ctx.settings.progress_flush_ms / 1000
        while True:
            await self._pending.wait()
            try:
                async with asyncio.timeout(interval):
                    await self._urgent.wait()
            except TimeoutError:
                pass
            self._pending.clear()
            self._urgent.clear()
            await self._flush_or_retry()

    async def _flush_or_retry(self) -> None:
        runs, requests, last = self._runs, self._requests, self._last
        renewals = self._renewals
        self._runs, self._requests, self._renewals, self._last = {}, [], [], None
        try:
            if runs:
                await self._fold(runs)
            if renewals:
                await self._renew(renewals)
            if requests:
                await self._answer(requests)
            if last is not None:
                await self._underlay.basic_ack(last.tag, multiple=True)
        except Exception as exc:  # noqa: BLE001 - keep the deliveries; try again shortly
            log.warning("run progress not stored (%r); retrying", exc)
            for run_id, events in runs.items():
                self._runs[run_id] = events + self._runs.get(run_id, [])
            self._requests = requests + self._requests
            self._renewals = renewals + self._renewals
            self._last = self._last or last
            self._pending.set()
            await asyncio.sleep(self.ctx.settings.broker_retry_s)

    async def _fold(self, runs: dict[str, list[dict[str, Any]]]) -> None:
        lease_s = self.ctx.settings.run_lease_s
        async with self.ctx.database.begin() as db:
            query = select(RunRow).where(RunRow.id.in_(list(runs))).with_for_update()
            for row in (await db.execute(query)).scalars():
                events = runs[row.id]
                fold(row, events)
                worker = next((e["worker"] for e in events if e["worker"]), None)
                leases.extend(row, worker, lease_s)

    async def _renew(self, renewals: list[Delivery]) -> None:
        """Renew the leases the renewals name; tell each worker which runs it lost."""
        lease_s = self.ctx.settings.run_lease_s
        answers = []
        async with self.ctx.database.begin() as db:
            for message in renewals:
                worker, run_ids = _renewal(message.body)
                held = await leases.renew(db, run_ids, worker, lease_s) if run_ids else set()
                answers.append((message, [r for r in run_ids if r not in held]))
        for message, lost in answers:
            if message.reply_to:
                body = dumps(LeaseReply(lost=lost)).encode()
                reply = aio_pika.Message(body, type=LEASE_RENEWAL, content_type="application/json")
                await self.channel.default_exchange.publish(reply, str(message.reply_to))

    async def _answer(self, requests: list[Delivery]) -> None:
        """Reply to each request with its session's active run as of now (everything before
        the requests is folded); one read for all the requests of a flush."""
        wanted = {request: _session_of(request) for request in requests if request.reply_to}
        async with self.ctx.database.begin() as db:
            query = select(SessionRow).where(SessionRow.id.in_(set(wanted.values())))
            sessions = {s.id: s for s in (await db.execute(query)).scalars()}
            run_ids = [s.active_run_id for s in sessions.values() if s.active_run_id]
            runs = select(RunRow).where(RunRow.id.in_(run_ids))
            active = {r.session_id: r for r in (await db.execute(runs)).scalars()}
            views: dict[str, ActiveRun] = {
                sid: active_run_view(run, sessions[sid], self.ctx.settings.catchup_text_chars)
                for sid, run in active.items()
                if sessions[sid].active_run_id == run.id and run.progress_end is None
            }
        for request, session_id in wanted.items():
            body = dumps(CatchUpReply(active_run=views.get(session_id))).encode()
            reply = aio_pika.Message(
                body, content_type="application/json", correlation_id=request.correlation_id
            )
            await self.channel.default_exchange.publish(reply, str(request.reply_to))


def _renewal(body: bytes) -> tuple[str, list[str]]:
    """`(worker, run ids)` of a lease renewal; an unreadable one names no run."""
    try:
        renewal = LeaseRenewal.read_json(body)
        return renewal.worker, renewal.runs
    except (ValueError, RecursionError):
        log.warning("run progress: skipping an unreadable lease renewal %r", body[:200])
        return "", []


def _session_of(request: Delivery) -> str:
    try:
        return CatchUpRequest.read_json(request.body).session_id[:64]
    except (ValueError, RecursionError):
        return ""


def fold(row: RunRow, events: list[dict[str, Any]]) -> None:
    """Fold events (in publish order) into the run's progress; those already folded are skipped."""
    seq = row.progress_seq
    text = [row.progress_text]
    tools = [dict(call) for call in row.progress_tool_calls]
    notices = [dict(notice) for notice in row.progress_notices]
    agent = row.progress_agent_type
    for event in events:
        if event["seq"] <= seq:
            continue
        seq = event["seq"]
        agent = event["agent_type"] or agent
        data = event["data"]
        if event["type"] == "token":
            text.append(_clean(data.get("token", "")))
        elif event["type"] == "tool_call":
            tools.append(_call(data))
        elif event["type"] == "tool_result":
            _attach_result(tools, data)
        elif event["type"] == "run_end":
            _end(row, data)
        elif event["type"] in NOTICE_FIELDS or event["type"] == "tts":
            _notice(notices, event["type"], data)
    row.progress_seq = seq
    row.progress_text = "".join(text)
    row.progress_tool_calls = tools
    row.progress_notices = notices
    row.progress_agent_type = agent


NOTICE_FIELDS = {
    "agent_switch": ("from", "to", "reason"),
    "error": ("code", "message"),
    "warning": ("code", "message"),
}
"""The run events kept as notices, with the fields kept of each (tts: a chunk count)."""


def _notice(notices: list[dict[str, Any]], kind: str, data: dict[str, Any]) -> None:
    """Append a notice; a run's `tts` chunks make one notice `{"chunks", "final"}`."""
    if kind != "tts":
        fields = {k: _clean(data.get(k)) for k in NOTICE_FIELDS[kind]}
        notices.append({"type": kind, "data": fields})
        return
    audio = next((n for n in notices if n["type"] == "tts"), None)
    if audio is None:
        audio = {"type": "tts", "data": {"chunks": 0, "final": False}}
        notices.append(audio)
    audio["data"] = {"chunks": audio["data"]["chunks"] + 1, "final": data.get("final") is True}


def _end(row: RunRow, data: dict[str, Any]) -> None:
    """The run is over as of this fold, even before the history writer (persist.py) has stored
    its outcome: a catch-up answered after this point must not offer it as in progress (the
    device's buffer, bound after `run_end` was routed, would never end it)."""
    status = data.get("status")
    if row.progress_end is None and status in TERMINAL:
        row.progress_end = str(status)


def _call(data: dict[str, Any]) -> dict[str, Any]:
    """A tool call as catch-up shows it (with its approval deadline when it waits for one)."""
    call = {k: data.get(k) for k in ("call_id", "tool_name", "parameters")}
    if data.get("requires_approval") is True:
        call |= {k: data.get(k) for k in ("requires_approval", "approval_expires_at")}
    return dict(_clean(call))


def _attach_result(tools: list[dict[str, Any]], data: dict[str, Any]) -> None:
    for call in tools:
        if call.get("call_id") == data.get("call_id"):
            for key in ("result", "error"):
                if key in data:
                    call[key] = _clean(data[key])
            if data.get("reason") is not None:
                call["reason"] = _clean(data["reason"])


def _run_events(body: bytes) -> list[dict[str, Any]]:
    """The run events of one AMQP message (a batch is newline-delimited); others skipped."""
    events = []
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            event = {
                "run_id": str(raw["run_id"]),
                "seq": int(raw["seq"]),
                "type": str(raw["type"]),
                "agent_type": raw.get("agent_type")
                if isinstance(raw.get("agent_type"), str)
                else None,
                "data": raw.get("data") if isinstance(raw.get("data"), dict) else {},
                "worker": _worker(raw),
            }
        except (ValueError, KeyError, TypeError, RecursionError):
            log.warning("run progress: skipping an unreadable event %r", line[:200])
            continue
        if raw.get("run_id") is not None:
            events.append(event)
    return events


def _worker(raw: Any) -> str | None:
    """The worker a `run_start` names in its metadata (the run's lease holder)."""
    metadata = raw.get("metadata") if raw.get("type") == "run_start" else None
    worker = metadata.get("worker") if isinstance(metadata, dict) else None
    return worker[:128] if isinstance(worker, str) else None


def _clean(value: Any, depth: int = 0) -> Any:
    """What Postgres can store: no NUL, no lone surrogates, bounded nesting."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if depth > 32:
        return None
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


async def consume(ctx: AppContext, channel: AbstractChannel) -> None:
    """Consume the run-progress queue on `channel` and flush, until the channel or task ends."""
    await channel.set_qos(prefetch_count=ctx.settings.progress_prefetch)
    underlay = await channel.get_underlay_channel()
    folder = ProgressFolder(ctx, channel, underlay)
    closed = asyncio.Event()
    channel.close_callbacks.add(lambda *_: closed.set())
    flushing = asyncio.create_task(folder.run())
    try:
        await underlay.basic_consume(ctx.broker.names.progress_queue, folder)
        watching = asyncio.create_task(closed.wait())
        await asyncio.wait([flushing, watching], return_when=asyncio.FIRST_COMPLETED)
        watching.cancel()
        if flushing.done():
            flushing.result()
    finally:
        flushing.cancel()
        if not channel.is_closed:
            await channel.close()
    raise ConnectionError("run-progress channel closed")
