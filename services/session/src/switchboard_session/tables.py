"""The service's tables (SQLAlchemy 2 declarative); Alembic migrations create them."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Stamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    agent_type: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default="active")
    end_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(Stamp)
    last_activity_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(Stamp)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    user_context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    active_run_id: Mapped[str | None] = mapped_column(String(64))
    client_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    message_seq: Mapped[int] = mapped_column(Integer, default=0)
    """The last `seq` given to a message of this session."""

    __table_args__ = (
        Index("ix_sessions_user_created", "user_id", "created_at", "id"),
        Index("ix_sessions_status_expires", "status", "expires_at"),
    )


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text, default="")
    tool: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """Tool call or result: `kind`, `call_id`, `tool_name`, `parameters`/`result`/`error`."""
    event_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The event this row was persisted from (redeliveries never duplicate it)."""
    client_id: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())

    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(64))
    """The user message that asked for this run."""
    content: Mapped[str] = mapped_column(Text, default="")
    audio_b64: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    response_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())
    dispatched_at: Mapped[datetime | None] = mapped_column(Stamp)
    """When the run request went to the workers (null while it waits its turn)."""
    started_at: Mapped[datetime | None] = mapped_column(Stamp)
    ended_at: Mapped[datetime | None] = mapped_column(Stamp)
    progress_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The last `seq` of this run folded into the progress columns (progress.py)."""
    progress_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    """The concatenated `token` events 1..progress_seq."""
    progress_tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    progress_agent_type: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    """The worker that last renewed the run's lease (null: no worker has taken it yet)."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(Stamp)
    """The run is failed `worker_lost` after this unless renewed (leases.py)."""
    progress_notices: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    """`{"type", "data"}` of the run's `agent_switch`, `error` and `warning` events, and one
    `tts` entry `{"chunks", "final"}` (the audio itself is not kept), in order (progress.py)."""
    progress_end: Mapped[str | None] = mapped_column(String(16))
    """The status of the run's `run_end` once folded (progress.py), which may be a moment before
    the history writer stores `status`: catch-up then no longer offers the run as in progress."""

    __table_args__ = (
        Index("ix_runs_audio_kept", "ended_at", postgresql_where=text("audio_b64 IS NOT NULL")),
        Index(
            "ix_runs_leased",
            "lease_expires_at",
            postgresql_where=text("status IN ('queued', 'running') AND dispatched_at IS NOT NULL"),
        ),
    )


class ToolApprovalRow(Base):
    """A tool call waiting for (or given) a human decision; decided at most once (approvals.py)."""

    __tablename__ = "tool_approvals"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(String(64))
    tool_name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """`pending`, `approved`, `denied`, `timed_out`, or `run_ended` (cancelled, failed)."""
    expires_at: Mapped[datetime] = mapped_column(Stamp)
    """The `tool_call`'s `approval_expires_at`: no decision is taken after it."""
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    client_id: Mapped[str | None] = mapped_column(String(64))
    """The device that decided."""
    created_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(Stamp)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())


class RateLimitRow(Base):
    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(Stamp)
    count: Mapped[int] = mapped_column(Integer)


class OutboxRow(Base):
    """A message to publish once the transaction that wrote it has committed (outbox.py)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    """The ordering key: a session's rows are published in `id` order (every writer holds the
    session row's lock, so ids of one session follow commit order)."""
    session_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    """`event` (on its session's shard stream), `run` (run request on `ai.commands`),
    `cancel` or `decision` (`ai.control`)."""
    routing: Mapped[str] = mapped_column(String(128))
    """Event type, `run`, or the run id to cancel (the relay adds the broker prefix)."""
    body: Mapped[str] = mapped_column(Text)
    """The JSON published, as written (an event keeps its `id`, so redelivery is deduped)."""
    created_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())

    __table_args__ = (
        Index("ix_outbox_session_id", "session_id", "id"),
        CheckConstraint("kind IN ('event', 'run', 'cancel', 'decision')", name="ck_outbox_kind"),
    )


class StreamOffsetRow(Base):
    """How far ingest (ingest.py) has stored a shard stream: every event at offsets up to
    `offset` is persisted and folded, written in the same transaction as those rows."""

    __tablename__ = "stream_offsets"

    stream: Mapped[str] = mapped_column(String(255), primary_key=True)
    """The stream queue's name (`<prefix>ai.stream.<shard>`): a new broker prefix starts over."""
    shard: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    """The last stream offset stored."""
    updated_at: Mapped[datetime] = mapped_column(Stamp, server_default=func.now())
