"""Where a new subscription starts, without gap or duplicate (docs/internals.md):
1. it is registered in the fan-out first (live events wait in it with their positions);
2. `hi` = the last offset the shard's feed handed out (a mark's, when it read none yet);
3. start = the cursor, when the event it names is still there (same tag, same session, at
   most `hi`, after syncing once when it is past `hi`: another replica may be ahead); else the
   catch-up state's position (its answer covers the stream up to that offset): the device
   check's `idle_at` when it read the session with no run in progress (no run as of that
   offset: the catch-up answer, read in one statement with the session), else asked for;
4. replay (start, hi]: the stream part read now (before the hello), the ring's batches framed
   as the device takes them; then the live events after both."""

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from switchboard_events import shard_of
from switchboard_protocol import CatchUpReply
from switchboard_protocol.cursor import Cursor, parse_cursor

from .history import SessionBatch
from .lines import Frame, frame_of, tag_of
from .subscription import LAST_INDEX, Position, Subscription

if TYPE_CHECKING:
    from .fanout import FanOut

log = logging.getLogger(__name__)


async def join(
    fanout: "FanOut",
    sub: Subscription,
    cursor_text: str | None,
    idle: bool = False,
    idle_at: tuple[int, int] | None = None,
) -> None:
    """Set where `sub` (registered already) starts: `recovered`, `active_run`, its replay.
    `idle`: the session had no run in progress a moment ago (the device check said so).
    `idle_at`: (shard, position), no run in progress as of that offset of the session's shard
    (the device check's): the catch-up answer, so none is asked for."""
    shard = shard_of(sub.session_id, fanout.shards)
    feed = fanout.feeds[shard]
    timeout = fanout.settings.catchup_timeout_s
    hi = await feed.high(timeout)
    start: Position | None = None
    found: list[SessionBatch] | None = None
    cursor = _parse(cursor_text, sub)
    if cursor is not None and cursor.shard == shard:
        if cursor.offset > hi:
            hi = max(hi, await feed.sync(timeout))
        if cursor.offset <= hi:  # one read: the cursor's batch is the first of the replay
            found = await fanout.history.session_batches(shard, sub.session_id, cursor.offset, hi)
            if _names_its_event(cursor, found):
                start = (cursor.offset, cursor.index)
    if start is not None:
        sub.recovered, sub.start = True, "cursor"
    elif idle_at is not None and idle_at[0] == shard:
        sub.start = "idle"
        start, found = (idle_at[1], LAST_INDEX), None
    else:
        reply = await _catch_up(fanout, sub.session_id, hi, idle)
        sub.active_run, start, found = reply.active_run, (reply.position, LAST_INDEX), None
    floor = max(start, (hi, LAST_INDEX))
    replay = None
    if start < floor:
        if found is None:
            first = max(start[0] + 1, 0)  # the catch-up covers its position's whole batch
            found = await fanout.history.session_batches(shard, sub.session_id, first, hi)
        replay = _frames(shard, start, found)
    sub.begin(floor, replay)


async def _catch_up(fanout: "FanOut", session_id: str, hi: int, idle: bool) -> CatchUpReply:
    """The catch-up answer. When it does not come in time (the session service busy, or its
    ingest owner starting) for a session that had no run in progress a moment ago, the device
    starts live after `hi` instead of being refused: nothing to catch up but a run started in
    that moment, whose start it then lacks (a `seq` hole: clients reload the run over REST)."""
    try:
        return await fanout.catch_up(session_id)
    except TimeoutError:
        if not idle:
            raise
        log.warning("catch-up of idle session %s not answered in time; joining live", session_id)
        return CatchUpReply(active_run=None, position=hi)


def _parse(text: str | None, sub: Subscription) -> Cursor | None:
    if not text:
        return None
    try:
        return parse_cursor(text)
    except ValueError:
        sub.invalid_cursor = True
        return None


def _names_its_event(cursor: Cursor, found: list[SessionBatch]) -> bool:
    """Whether the event the cursor names is where it says (not expired, not another
    stream's since): the first batch read is at its offset and holds, at its index, an event
    of this session with its tag."""
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
