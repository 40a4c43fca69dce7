"""Where a stream starts: a run resumed from a cursor (or sent just now) or joined in progress,
from the catch-up state and what is stored; the live tail follows from the device's buffer."""

import asyncio
from typing import Any

from ..parts import SocketParts
from .calls import RunText, catch_up, session_of
from .cursor import Cursor
from .mapping import RunMapper, sse
from .request import AguiRefused
from .snapshot import snapshot
from .stored import TERMINAL, error_of, reply_of, run_outcome, stored_calls


async def resumed(
    parts: SocketParts, token: str, session_id: str, cursor: Cursor
) -> tuple[list[str], RunMapper]:
    """Where the client stopped (or the start of a run just sent): what it lacks of the run so
    far (from the catch-up state, which covers whatever the device's buffer lacks: events routed
    before it was bound, or handed to a dropped stream), then the live tail from the buffer; or,
    when the run is over, its end as stored."""
    mapper = RunMapper(session_id, cursor)
    prelude = mapper.started()
    active = await catch_up(parts, session_id)
    text = RunText(parts, token, session_id, cursor.run_id)
    if active is not None and active.run_id == cursor.run_id:
        if active.seq > cursor.seq:
            session = await session_of(parts, token, session_id)
            stored = session.get("active_run") or {}
            if stored.get("id") != cursor.run_id:  # ended since: its outcome has the notices
                stored = run_outcome(session, cursor.run_id) or {}
            mapper.failed_with(error_of(stored))
            prelude += mapper.tool_calls(active.tool_calls)
            prelude += mapper.notices(stored.get("notices") or [])
            missing = await text.since(cursor.chars, active.text_offset, active.text)
            prelude += mapper.text(missing, active.seq)
            prelude += mapper.reply(reply_of(session, cursor.run_id))
        return prelude, mapper
    session, outcome = await settled(parts, token, session_id, cursor.run_id, active is None)
    if outcome is not None and outcome.get("status") in TERMINAL:
        prelude += mapper.tool_calls(stored_calls(session, cursor.run_id))
        prelude += mapper.notices(outcome.get("notices") or [])
        tail, offset = str(outcome.get("text") or ""), int(outcome.get("text_offset") or 0)
        prelude += mapper.text(await text.since(cursor.chars, offset, tail), cursor.seq)
        prelude += mapper.reply(reply_of(session, cursor.run_id))
        prelude += mapper.finish(str(outcome["status"]), error_of(outcome))
    return prelude, mapper


async def settled(
    parts: SocketParts, token: str, session_id: str, run_id: str, none_active: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The session and the run's stored outcome. A run catch-up no longer offers (its `run_end`
    is folded) may still read `running` until the history writer stores its end: read again
    (every 0.1 s, up to CATCHUP_TIMEOUT_S) until it does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + parts.settings.catchup_timeout_s
    while True:
        session = await session_of(parts, token, session_id)
        outcome = run_outcome(session, run_id)
        status = outcome.get("status") if outcome is not None else None
        if not (none_active and status == "running"):
            return session, outcome
        if loop.time() > deadline:
            raise AguiRefused(503, "try_again", "the run's end is not stored yet; try again")
        await asyncio.sleep(0.1)


async def joined(
    parts: SocketParts, token: str, session_id: str, client_id: str
) -> tuple[list[str], RunMapper | None]:
    """The run in progress so far as a `MESSAGES_SNAPSHOT` (its text message left open for the
    live tail), or nothing yet: the stream waits for the session's next run."""
    active = await catch_up(parts, session_id)
    if active is None:
        return [], None
    history = (await session_of(parts, token, session_id)).get("messages") or []
    text = RunText(parts, token, session_id, active.run_id)
    so_far = await text.since(0, active.text_offset, active.text)
    cursor = Cursor(client_id, active.run_id, active.seq, len(so_far), open=False)
    mapper = RunMapper(session_id, cursor)
    prelude = mapper.started()
    prelude.append(sse(snapshot(history, active, so_far), cursor))
    prelude += mapper.opened()
    return prelude, mapper


def adopter(session_id: str, client_id: str) -> Any:
    def adopt(event: dict[str, object]) -> RunMapper | None:
        run_id = event.get("run_id")
        if event.get("type") != "run_start" or not isinstance(run_id, str):
            return None
        return RunMapper(session_id, Cursor(client_id, run_id))

    return adopt
