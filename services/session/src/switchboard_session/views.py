"""Rows to API bodies."""

from switchboard_protocol import ActiveRun, Run

from .schemas import (
    ActiveRunDetail,
    Message,
    Notice,
    RunOutcome,
    Session,
    SessionDetail,
    ToolData,
)
from .settings import SessionSettings
from .tables import MessageRow, RunRow, SessionRow


def ws_url(settings: SessionSettings, session_id: str) -> str:
    path = f"/ai/ws/{session_id}"
    return settings.public_ws_base.rstrip("/") + path if settings.public_ws_base else path


def session_view(row: SessionRow, settings: SessionSettings, title: str | None = None) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        agent_type=row.agent_type,
        mode=row.mode,
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        metadata=row.metadata_,
        ws_url=ws_url(settings, row.id),
        title=title,
    )


def message_view(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        seq=row.seq,
        role=row.role,
        content=row.content,
        run_id=row.run_id,
        tool=ToolData.model_validate(row.tool) if row.tool else None,
        metadata=row.metadata_,
        client_id=row.client_id,
        created_at=row.created_at,
    )


def run_view(row: RunRow) -> Run:
    return Run(
        id=row.id,
        status=row.status,
        message_id=row.message_id,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def active_run_view(row: RunRow, session: SessionRow) -> ActiveRun:
    return ActiveRun(
        **run_view(row).model_dump(),
        run_id=row.id,
        seq=row.progress_seq,
        agent_type=row.progress_agent_type or session.agent_type,
        text=row.progress_text,
        tool_calls=row.progress_tool_calls,
    )


def active_run_detail_view(row: RunRow, session: SessionRow) -> ActiveRunDetail:
    """The active run as `GET /ai/sessions/{id}` shows it: the catch-up state and its notices."""
    notices = [Notice.model_validate(n) for n in row.progress_notices]
    return ActiveRunDetail(**active_run_view(row, session).model_dump(), notices=notices)


def run_outcome_view(row: RunRow) -> RunOutcome:
    return RunOutcome(
        id=row.id,
        message_id=row.message_id,
        status=row.status,
        agent_type=row.progress_agent_type,
        text=row.progress_text,
        notices=[Notice.model_validate(n) for n in row.progress_notices],
    )


def detail_view(
    row: SessionRow,
    settings: SessionSettings,
    messages: list[MessageRow],
    active: RunRow | None,
    queued: int,
    older: int | None = None,
    outcomes: list[RunRow] | None = None,
    title: str | None = None,
) -> SessionDetail:
    return SessionDetail(
        **session_view(row, settings, title).model_dump(),
        messages=[message_view(m) for m in messages],
        runs=[run_outcome_view(r) for r in outcomes or []],
        active_run=active_run_detail_view(active, row) if active else None,
        queued_runs=queued,
        messages_before=older,
    )
