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
from .store.pages import CutMessage, CutRun
from .tables import RunRow, SessionRow


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


def message_view(cut: CutMessage) -> Message:
    """A message of a history page: its content's head, `truncated` when there is more."""
    row = cut.row
    return Message(
        id=row.id,
        seq=row.seq,
        role=row.role,
        content=cut.head,
        truncated=cut.truncated,
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


def active_run_view(row: RunRow, session: SessionRow, tail_chars: int) -> ActiveRun:
    """The catch-up state: the run's text cut to its last `tail_chars` characters."""
    offset = max(0, len(row.progress_text) - tail_chars)
    return ActiveRun(
        **run_view(row).model_dump(),
        run_id=row.id,
        seq=row.progress_seq,
        agent_type=row.progress_agent_type or session.agent_type,
        text=row.progress_text[offset:],
        text_offset=offset,
        tool_calls=row.progress_tool_calls,
    )


def active_run_detail_view(row: RunRow, session: SessionRow, tail_chars: int) -> ActiveRunDetail:
    """The active run as `GET /ai/sessions/{id}` shows it: the catch-up state and its notices."""
    notices = [Notice.model_validate(n) for n in row.progress_notices]
    state = active_run_view(row, session, tail_chars).model_dump()
    return ActiveRunDetail(**state, notices=notices)


def run_outcome_view(cut: CutRun) -> RunOutcome:
    row = cut.row
    return RunOutcome(
        id=row.id,
        message_id=row.message_id,
        status=row.status,
        agent_type=row.progress_agent_type,
        text=cut.head,
        truncated=cut.truncated,
        notices=[Notice.model_validate(n) for n in row.progress_notices],
    )


def detail_view(
    row: SessionRow,
    settings: SessionSettings,
    messages: list[CutMessage],
    active: RunRow | None,
    queued: int,
    older: bool = False,
    outcomes: list[CutRun] | None = None,
    title: str | None = None,
) -> SessionDetail:
    """The session with its page of history, trimmed from its oldest messages (and their runs)
    to HISTORY_PAGE_BYTES as rendered (the page was chosen from stored sizes, which escaping
    can exceed); `messages_before` follows the oldest message kept."""
    views = [message_view(m) for m in messages]
    runs = [run_outcome_view(r) for r in outcomes or []]
    views, runs, trimmed = _within(views, runs, settings.history_page_bytes)
    return SessionDetail(
        **session_view(row, settings, title).model_dump(),
        messages=views,
        runs=runs,
        active_run=active_run_detail_view(active, row, settings.catchup_text_chars)
        if active
        else None,
        queued_runs=queued,
        messages_before=views[0].seq if views and (older or trimmed) else None,
    )


def _within(
    messages: list[Message], runs: list[RunOutcome], max_bytes: int
) -> tuple[list[Message], list[RunOutcome], bool]:
    """The newest messages (at least one) whose JSON, with their runs', fits `max_bytes`."""
    run_bytes: dict[str, int] = {}
    for run in runs:
        run_bytes[run.message_id] = run_bytes.get(run.message_id, 0) + _size(run)
    used, first = 0, len(messages)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        used += _size(message) + run_bytes.get(message.id, 0)
        if first < len(messages) and used > max_bytes:
            break
        first = index
    kept = messages[first:]
    ids = {m.id for m in kept}
    return kept, [r for r in runs if r.message_id in ids], first > 0


def _size(view: Message | RunOutcome) -> int:
    return len(view.model_dump_json().encode())
