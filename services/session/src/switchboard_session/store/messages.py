"""Conversation history: messages numbered per session, persisted idempotently by event id."""

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..tables import MessageRow, SessionRow


async def next_seq(db: AsyncSession, session_id: str) -> int:
    """The session's next message number (takes the session row's lock)."""
    query = (
        update(SessionRow)
        .where(SessionRow.id == session_id)
        .values(message_seq=SessionRow.message_seq + 1)
        .returning(SessionRow.message_seq)
    )
    return int((await db.execute(query)).scalar_one())


async def add_message(
    db: AsyncSession,
    *,
    message_id: str,
    session_id: str,
    role: str,
    content: str,
    run_id: str | None = None,
    tool: dict[str, Any] | None = None,
    event_id: str | None = None,
    client_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> bool:
    """Insert one message; False (nothing written) when its id or event id is already stored."""
    values = {
        "id": message_id,
        "session_id": session_id,
        "seq": await next_seq(db, session_id),
        "role": role,
        "content": content,
        "run_id": run_id,
        "tool": tool,
        "event_id": event_id,
        "client_id": client_id,
        "metadata_": metadata or {},
    }
    query = insert(MessageRow).values(values).on_conflict_do_nothing().returning(MessageRow.id)
    return (await db.execute(query)).scalar_one_or_none() is not None


async def fill_transcript(db: AsyncSession, message_id: str, text: str) -> None:
    """The text of an utterance's message, stored empty on upload (set once: a redelivered
    `stt` changes nothing)."""
    query = update(MessageRow).where(MessageRow.id == message_id, MessageRow.content == "")
    await db.execute(query.values(content=text))
