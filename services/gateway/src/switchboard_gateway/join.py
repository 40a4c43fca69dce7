"""Where a new subscription starts, without gap or duplicate (docs/internals.md):
1. it is registered in the fan-out first (live events wait in it with their positions);
2. `hi` = the last offset the shard's feed handed out (a mark's, when it read none yet);
3. start = the cursor, when the event it names is still there (same tag, same session, at
   most `hi`, after syncing once when it is past `hi`: another replica may be ahead); else the
   catch-up state's position (its answer covers the stream up to that offset);
4. replay (start, hi] lazily, from the ring or the stream, then the live events after both."""

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from switchboard_events import shard_of
from switchboard_protocol.cursor import Cursor, parse_cursor

from .lines import Frame, frame_of, tag_of
from .subscription import LAST_INDEX, Position, Subscription

if TYPE_CHECKING:
    from .fanout import FanOut


async def join(fanout: "FanOut", sub: Subscription, cursor_text: str | None) -> None:
    shard = shard_of(sub.session_id, fanout.shards)
    feed = fanout.feeds[shard]
    timeout = fanout.settings.catchup_timeout_s
    hi = await feed.high(timeout)
    start: Position | None = None
    cursor = _parse(cursor_text, sub)
    if cursor is not None and cursor.shard == shard:
        if cursor.offset > hi:
            hi = max(hi, await feed.sync(timeout))
        if await _still_there(fanout, sub.session_id, cursor, hi):
            start = (cursor.offset, cursor.index)
    sub.recovered = start is not None
    if start is None:
        reply = await fanout.catch_up(sub.session_id)
        sub.active_run = reply.active_run
        start = (reply.position, LAST_INDEX)
    floor = max(start, (hi, LAST_INDEX))
    replay = _replay(fanout, shard, sub.session_id, start, hi) if start < floor else None
    sub.begin(floor, replay)


def _parse(text: str | None, sub: Subscription) -> Cursor | None:
    if not text:
        return None
    try:
        return parse_cursor(text)
    except ValueError:
        sub.invalid_cursor = True
        return None


async def _still_there(fanout: "FanOut", session_id: str, cursor: Cursor, hi: int) -> bool:
    """Whether the event the cursor names is where it says (not expired, not another
    stream's since): the batch at its offset holds an event of this session with its tag."""
    if cursor.offset > hi:
        return False
    batch = await fanout.history.batch_at(cursor.shard, cursor.offset)
    if batch is None or cursor.index >= len(batch.lines):
        return False
    if batch.sessions[cursor.index] != session_id:
        return False
    try:
        return tag_of(batch.lines[cursor.index]) == cursor.tag
    except ValueError:
        return False


async def _replay(
    fanout: "FanOut", shard: int, session_id: str, start: Position, hi: int
) -> AsyncIterator[list[Frame]]:
    """The session's events after `start` up to offset `hi`, one batch's worth at a time."""
    first = start[0] + 1 if start[1] == LAST_INDEX else start[0]
    async for batch in fanout.history.batches(shard, max(first, 0), hi):
        chunk = [
            frame_of(shard, batch.offset, index, line)
            for index, line in enumerate(batch.lines)
            if batch.sessions[index] == session_id and (batch.offset, index) > start
        ]
        if chunk:
            yield chunk
