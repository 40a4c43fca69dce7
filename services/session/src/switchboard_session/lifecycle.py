"""Session lifecycle: create, end (delete or expiry), each with its events and audit row."""

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_protocol import make_event

from .app_context import AppContext
from .schemas import CreateSession
from .store import audit, runs
from .store.sessions import now
from .tables import SessionRow


async def create_session(
    ctx: AppContext, db: AsyncSession, user_id: str, body: CreateSession, ip: str | None
) -> SessionRow:
    """Insert the session with its creating device, write `session_start` to the outbox
    (published after commit). Nothing is declared on the broker: devices read the streams."""
    ctx.broker.require()
    stamp = now()
    row = SessionRow(
        id=uuid.uuid4().hex,
        user_id=user_id,
        agent_type=body.agent_type,
        mode=body.mode,
        status="active",
        created_at=stamp,
        updated_at=stamp,
        last_activity_at=stamp,
        expires_at=stamp + timedelta(seconds=ctx.settings.session_ttl_s),
        metadata_=body.metadata,
        user_context=body.user_context,
        client_ids=[body.client_id],
        message_seq=0,
    )
    db.add(row)
    audit.record(
        db, "session.create", user_id=user_id, session_id=row.id, ip=ip, client_id=body.client_id
    )
    await db.flush()
    await ctx.outbox.event(
        db,
        make_event(
            "session_start",
            {"mode": row.mode, "client_id": body.client_id},
            session_id=row.id,
            agent_type=row.agent_type,
        ),
    )
    return row


async def end_session(
    ctx: AppContext, db: AsyncSession, row: SessionRow, reason: str, ip: str | None = None
) -> None:
    """Mark the (locked) session ended, cancel its runs, write the cancel and `session_end`
    to the outbox. Needs no broker: what it announces goes out once the broker is back."""
    stamp = now()
    row.status = "ended"
    row.end_reason = reason
    row.ended_at = stamp
    row.updated_at = stamp
    await runs.cancel_waiting(db, row.id, f"session {reason}")
    if row.active_run_id:
        await ctx.outbox.cancel(db, row.active_run_id, row.id)
    action = "session.expire" if reason == "expired" else "session.end"
    audit.record(db, action, user_id=row.user_id, session_id=row.id, ip=ip, reason=reason)
    await db.flush()
    await ctx.outbox.event(
        db,
        make_event("session_end", {"reason": reason}, session_id=row.id, agent_type=row.agent_type),
    )
