"""Catch-up state of in-progress runs, for devices that join mid-run (`active_run`).

Ingest (ingest.py) folds every run event of a batch, in stream order, into the run's
`progress_*` columns (the text so far, the tool calls, the notices, the agent and the last
`seq` folded) in the same transaction that stores the batch and its stream offset. So the
columns always say exactly what the events up to the stored offset make of a run: a catch-up
answered from them carries that offset as its `position` (rpc.py), and the device replays the
session's events after it. After a restart or a takeover nothing needs rebuilding: the new
owner reads on from the stored offset. Folding is idempotent by `seq` (a republished event
changes nothing). A run's folded events renew its lease as well (leases.py).
"""

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import PROGRESS_TYPES, ActiveRun

from . import leases
from .store.runs import TERMINAL
from .store.sessions import now
from .tables import RunRow, SessionRow
from .views import active_run_view

log = logging.getLogger(__name__)
FOLDED = frozenset(PROGRESS_TYPES)
RunEvents = dict[str, list[dict[str, Any]]]
"""A batch's run events by run id, in stream order (what `fold` takes)."""


STRUCTURED = frozenset(
    {"tool_call", "tool_result", "run_end", "tts", "agent_switch", "error", "warning"}
)
"""Types whose fold reads the run's tool calls, notices or end (the ORM fold); a run whose
events are all of other types (tokens, mostly) is folded by one appending UPDATE."""
_APPEND = text(
    """
    UPDATE runs SET
        progress_seq = :seq,
        progress_text = progress_text || :text,
        progress_agent_type = coalesce(:agent, progress_agent_type),
        lease_owner = CASE WHEN status IN ('queued', 'running')
            THEN coalesce(lease_owner, :worker) ELSE lease_owner END,
        lease_expires_at = CASE WHEN status IN ('queued', 'running')
            THEN :expires ELSE lease_expires_at END
    WHERE id = :id
    """
)


async def fold_runs(db: AsyncSession, runs: RunEvents, lease_s: float) -> None:
    """Fold each run's events into its row (locked) and renew its lease: the runs that only
    got text (tokens) by appending it in SQL (one statement for all of them: the text so far
    never travels), the others through the ORM (`fold`)."""
    if not runs:
        return
    locked = select(RunRow.id, RunRow.progress_seq).where(RunRow.id.in_(sorted(runs)))
    locked = locked.order_by(RunRow.id)  # one lock order for every multi-run locker
    seqs = dict((await db.execute(locked.with_for_update())).tuples().all())
    appends, structured = [], []
    expires = now() + timedelta(seconds=lease_s)
    for run_id, seq in seqs.items():
        events = runs[run_id]
        if any(event["type"] in STRUCTURED for event in events):
            structured.append(run_id)
        else:
            appends.append(_append(run_id, seq, events, expires))
    if appends:
        await db.execute(_APPEND, appends)
    if structured:
        query = select(RunRow).where(RunRow.id.in_(structured))
        for row in (await db.execute(query)).scalars():
            events = runs[row.id]
            fold(row, events)
            leases.extend(row, _worker_of(events), lease_s)


def _append(
    run_id: str, seq: int, events: list[dict[str, Any]], expires: datetime
) -> dict[str, Any]:
    """The `_APPEND` parameters of a run's text-only events (those at or below `seq`, folded
    already, skipped as `fold` does)."""
    pieces, agent = [], None
    for event in events:
        if event["seq"] <= seq:
            continue
        seq = event["seq"]
        agent = event["agent_type"] or agent
        if event["type"] == "token":
            pieces.append(_clean(event["data"].get("token", "")))
    return {
        "id": run_id,
        "seq": seq,
        "text": "".join(pieces),
        "agent": agent,
        "worker": _worker_of(events),
        "expires": expires,
    }


def _worker_of(events: list[dict[str, Any]]) -> str | None:
    return next((e["worker"] for e in events if e["worker"]), None)


async def catch_up_views(
    db: AsyncSession, session_ids: set[str], text_chars: int
) -> dict[str, ActiveRun]:
    """The active run of each of these sessions that has one in progress, as folded."""
    query = select(SessionRow).where(SessionRow.id.in_(session_ids))
    sessions = {s.id: s for s in (await db.execute(query)).scalars()}
    run_ids = [s.active_run_id for s in sessions.values() if s.active_run_id]
    if not run_ids:
        return {}
    runs = select(RunRow).where(RunRow.id.in_(run_ids))
    active = {r.session_id: r for r in (await db.execute(runs)).scalars()}
    return {
        sid: active_run_view(run, sessions[sid], text_chars)
        for sid, run in active.items()
        if sessions[sid].active_run_id == run.id and run.progress_end is None
    }


def run_event(raw: dict[str, Any]) -> dict[str, Any] | None:
    """What `fold` keeps of one decoded event; None when it is not a run's (or unreadable)."""
    if raw.get("type") not in FOLDED or raw.get("run_id") is None:
        return None
    try:
        return {
            "run_id": str(raw["run_id"]),
            "seq": int(raw["seq"]),
            "type": str(raw["type"]),
            "agent_type": raw.get("agent_type") if isinstance(raw.get("agent_type"), str) else None,
            "data": raw.get("data") if isinstance(raw.get("data"), dict) else {},
            "worker": _worker(raw),
        }
    except (ValueError, KeyError, TypeError, RecursionError):
        log.warning("run progress: skipping an unreadable event %r", str(raw)[:200])
        return None


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
    """The run is over as of this fold: a catch-up answered from here on does not offer it as
    in progress (the device replays only what follows the catch-up's position)."""
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
