"""The conversation a run request carries: the messages before the run's, within a budget."""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..tables import MessageRow


@dataclass(frozen=True)
class Budget:
    max_messages: int
    max_chars: int


def history_item(row: MessageRow) -> dict[str, Any]:
    """One message as the run request's `history` carries it (see docs/internals.md)."""
    item: dict[str, Any] = {"role": row.role, "content": row.content}
    if row.tool is not None:
        item["tool"] = row.tool
    return item


def item_chars(item: dict[str, Any]) -> int:
    """What an item costs against HISTORY_MAX_CHARS: its content plus its tool fields."""
    tool = item.get("tool")
    return len(item["content"]) + (len(json.dumps(tool, default=str)) if tool else 0)


async def conversation(
    db: AsyncSession, session_id: str, message_id: str, budget: Budget
) -> tuple[list[dict[str, Any]], int]:
    """The messages before `message_id`, oldest first, newest kept within `budget`, and how
    many earlier messages were left out."""
    before = select(MessageRow.seq).where(MessageRow.id == message_id).scalar_subquery()
    earlier = (MessageRow.session_id == session_id, MessageRow.seq < before)
    total = int(
        (
            await db.execute(select(func.count()).select_from(MessageRow).where(*earlier))
        ).scalar_one()
    )
    query = (
        select(MessageRow)
        .where(*earlier)
        .order_by(MessageRow.seq.desc())
        .limit(budget.max_messages)
    )
    kept: list[dict[str, Any]] = []
    chars = 0
    for row in (await db.execute(query)).scalars():
        item = history_item(row)
        chars += item_chars(item)
        if chars > budget.max_chars:
            break
        kept.append(item)
    return kept[::-1], total - len(kept)
