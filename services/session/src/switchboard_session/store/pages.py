"""History pages within a byte budget, and long texts read in pieces.

A page is chosen from the sizes Postgres knows (`octet_length`, without reading the texts),
then read with each text cut to its head in SQL: a 600 KB answer costs the service, and
Postgres, its first HISTORY_CONTENT_CHARS characters (a prefix of the stored value is all that
is decompressed), never the whole text; whether it was cut is told by the stored length."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from switchboard_protocol import TextPiece

from ..tables import MessageRow, RunRow

ROW_OVERHEAD_BYTES = 400
"""What a message or run costs besides its texts: ids, stamps, field names."""


@dataclass(frozen=True)
class PageBudget:
    max_bytes: int
    """HISTORY_PAGE_BYTES."""
    content_chars: int
    """HISTORY_CONTENT_CHARS: the head of a message's content, the tail of a run's text."""


@dataclass(frozen=True)
class CutMessage:
    """A message row (its `content` not loaded), with the head of its content."""

    row: MessageRow
    head: str
    truncated: bool


@dataclass(frozen=True)
class CutRun:
    """A run row (its texts not loaded), with the head of its text."""

    row: RunRow
    head: str
    truncated: bool


def _head(column: Any, chars: int) -> tuple[Any, Any]:
    """(the first `chars` characters of `column`, whether there is more)."""
    head = func.substr(column, 1, chars)
    return head, func.octet_length(column) > func.octet_length(head)


def _cut_bytes(column: Any, chars: int) -> Any:
    """The bytes of a text cut to `chars` characters: its own size when that cannot be more
    (read from the stored length, the text untouched), else its head's (Postgres reads only
    that far)."""
    return case(
        (func.octet_length(column) <= chars, func.octet_length(column)),
        else_=func.octet_length(func.substr(column, 1, chars)),
    )


def _json_bytes(column: Any) -> Any:
    return func.coalesce(func.octet_length(cast(column, Text)), 0)


async def page_rows(
    db: AsyncSession, session_id: str, limit: int, before: int | None, budget: PageBudget
) -> tuple[list[int], bool]:
    """The seqs of the newest messages with `seq < before` that fit `limit` and the budget
    (at least one), newest first, and whether older messages exist."""
    chars = budget.content_chars
    runs = (
        select(
            func.sum(
                _cut_bytes(RunRow.progress_text, chars)
                + _json_bytes(RunRow.progress_notices)
                + ROW_OVERHEAD_BYTES
            )
        )
        .where(RunRow.session_id == session_id, RunRow.message_id == MessageRow.id)
        .correlate(MessageRow)
        .scalar_subquery()
    )
    size = (
        _cut_bytes(MessageRow.content, chars)
        + _json_bytes(MessageRow.tool)
        + _json_bytes(MessageRow.metadata_)
        + func.coalesce(runs, 0)
    )
    query = select(MessageRow.seq, size).where(MessageRow.session_id == session_id)
    if before is not None:
        query = query.where(MessageRow.seq < before)
    query = query.order_by(MessageRow.seq.desc()).limit(limit + 1)
    rows = list((await db.execute(query)).all())
    kept: list[int] = []
    used = 0
    for seq, cost in rows[:limit]:
        used += int(cost) + ROW_OVERHEAD_BYTES
        if kept and used > budget.max_bytes:
            break
        kept.append(int(seq))
    return kept, len(rows) > len(kept)


async def cut_messages(
    db: AsyncSession, session_id: str, seqs: list[int], chars: int
) -> list[CutMessage]:
    """The messages `seqs` (a run of consecutive ones), oldest first, contents cut to `chars`."""
    if not seqs:
        return []
    query = (
        select(MessageRow, *_head(MessageRow.content, chars))
        .options(defer(MessageRow.content))
        .where(
            MessageRow.session_id == session_id,
            MessageRow.seq >= min(seqs),
            MessageRow.seq <= max(seqs),
        )
        .order_by(MessageRow.seq)
    )
    rows = (await db.execute(query)).all()
    return [CutMessage(row, head, bool(more)) for row, head, more in rows]


async def cut_runs(
    db: AsyncSession, session_id: str, message_ids: list[str], chars: int
) -> list[CutRun]:
    """The runs these user messages asked for, oldest first, texts cut to their heads."""
    if not message_ids:
        return []
    query = (
        select(RunRow, *_head(RunRow.progress_text, chars))
        .options(defer(RunRow.progress_text), defer(RunRow.content), defer(RunRow.audio_b64))
        .where(RunRow.session_id == session_id, RunRow.message_id.in_(message_ids))
        .order_by(RunRow.created_at, RunRow.id)
    )
    rows = (await db.execute(query)).all()
    return [CutRun(row, head, bool(more)) for row, head, more in rows]


async def message_piece(
    db: AsyncSession, session_id: str, message_id: str, offset: int, limit: int
) -> TextPiece | None:
    """Characters `offset`.. of a message's content (at most `limit`); None: no such message."""
    column = MessageRow.content
    query = select(func.substr(column, offset + 1, limit), func.char_length(column)).where(
        MessageRow.session_id == session_id, MessageRow.id == message_id
    )
    return _piece((await db.execute(query)).one_or_none(), offset)


async def run_piece(
    db: AsyncSession, session_id: str, run_id: str, offset: int, limit: int
) -> TextPiece | None:
    """Characters `offset`.. of a run's text (its tokens so far; at most `limit`)."""
    column = RunRow.progress_text
    query = select(func.substr(column, offset + 1, limit), func.char_length(column)).where(
        RunRow.session_id == session_id, RunRow.id == run_id
    )
    return _piece((await db.execute(query)).one_or_none(), offset)


def _piece(row: Any, offset: int) -> TextPiece | None:
    if row is None:
        return None
    text, total = str(row[0] or ""), int(row[1])
    end = offset + len(text)
    return TextPiece(
        offset=offset, text=text, total_chars=total, next_offset=end if end < total else None
    )
