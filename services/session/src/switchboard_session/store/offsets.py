"""Stored stream offsets (`stream_offsets`): read at ingest start, advanced with each batch.

Advancing is a compare-and-set on the offset this owner read or last wrote: if another process
wrote the row meanwhile (two owners after a lost lock), the update matches nothing and the
caller's transaction is rolled back (`Fenced`), so no batch is ever stored twice.
"""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..tables import StreamOffsetRow
from .sessions import now


class Fenced(Exception):
    """Another process advanced this stream's offset: this one no longer owns ingest."""


async def stored(db: AsyncSession, streams: list[str]) -> dict[str, int]:
    """The stored offset of each of `streams` that has one."""
    query = select(StreamOffsetRow.stream, StreamOffsetRow.offset).where(
        StreamOffsetRow.stream.in_(streams)
    )
    return {stream: int(offset) for stream, offset in (await db.execute(query)).all()}


async def advance(
    db: AsyncSession, stream: str, shard: int, expected: int | None, offset: int
) -> None:
    """Set `stream`'s offset from `expected` (None: no row yet) to `offset`; `Fenced` when the
    row is not at `expected` any more."""
    query: Any
    if expected is None:
        query = (
            insert(StreamOffsetRow)
            .values(stream=stream, shard=shard, offset=offset, updated_at=now())
            .on_conflict_do_nothing()
            .returning(StreamOffsetRow.stream)
        )
    else:
        query = (
            update(StreamOffsetRow)
            .where(StreamOffsetRow.stream == stream, StreamOffsetRow.offset == expected)
            .values(offset=offset, updated_at=now())
            .returning(StreamOffsetRow.stream)
        )
    if (await db.execute(query)).scalar_one_or_none() is None:
        raise Fenced(f"{stream}: stored offset is not {expected} any more")
