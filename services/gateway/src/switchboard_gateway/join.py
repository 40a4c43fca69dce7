"""Where a new subscription starts, without gap or duplicate (docs/internals.md):
1. it is registered in the fan-out first (live events wait in it with their positions);
2. `hi` = the last offset the shard's feed handed out (a mark's, when it read none yet);
3. start = the cursor, when the event it names is still there (same tag, same session, at
   most `hi`, after syncing once when it is past `hi`: another replica may be ahead); else the
   catch-up state's position (its answer covers the stream up to that offset);
4. replay (start, hi]: the stream part read now (before the hello), the ring's batches framed
   as the device takes them; then the live events after both."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from switchboard_events import shard_of
from switchboard_protocol.cursor import Cursor, parse_cursor

from .history import SessionBatch
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
    replay = None
    if start < floor:
        first = start[0] + 1 if start[1] == LAST_INDEX else start[0]
        found = await fanout.history.session_batches(shard, sub.session_id, max(first, 0), hi)
        replay = _frames(shard, start, found)
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
    found = await fanout.history.session_batches(
        cursor.shard, session_id, cursor.offset, cursor.offset
    )
    if not found or found[0][0] != cursor.offset:
        return False
    line = dict(found[0][1]).get(cursor.index)
    try:
        return line is not None and tag_of(line) == cursor.tag
    except ValueError:
        return False


def _frames(shard: int, start: Position, found: list[SessionBatch]) -> Iterator[list[Frame]]:
    """The frames of the events after `start`, one batch's worth at a time, made as taken."""
    for offset, lines in found:
        chunk = [
            frame_of(shard, offset, index, line) for index, line in lines if (offset, index) > start
        ]
        if chunk:
            yield chunk
