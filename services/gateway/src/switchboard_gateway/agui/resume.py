"""Where a stream starts, from its subscription (fanout.subscribe): a position it recovered
(the session's events after it follow: nothing else to send first), else the subscription's
catch-up state (`active_run`; its events after that state follow) and what is stored, for a
run resumed (or sent just now) or joined in progress."""

import asyncio
from collections.abc import Callable
from typing import Any

from switchboard_protocol import ActiveRun

from ..parts import SocketParts
from ..subscription import Subscription
from .calls import RunText, session_of
from .cursor import RunState
from .mapping import NOTICE_TYPES, RunMapper, sse
from .snapshot import snapshot
from .stored import TERMINAL, error_of, reply_of, run_outcome, stored_calls, stored_run

STORED_POLL_S = 0.05
Opening = tuple[list[str], RunMapper | None]
"""The stream's first SSE events, and the mapper of its run (None: it waits for the next)."""


async def opening(
    parts: SocketParts,
    token: str,
    sub: Subscription,
    client_id: str,
    state: RunState | None,
    position: str | None,
) -> Opening:
    """A resumed (or just sent) run's opening when the client's view is `state` as of stream
    `position`; a joined one's without `state`, or when the client has its run's end (the
    subscription's run in progress, or the next)."""
    if state is None or state.done:
        return await joined(parts, token, sub.session_id, client_id, sub.active_run)
    if sub.recovered:
        mapper = RunMapper(sub.session_id, state, position)
        if state.notices:  # one may be the run's `error`, whose code its RUN_ERROR carries
            mapper.failed_with(await stored_error(parts, token, sub.session_id, state))
        return mapper.started(), mapper
    return await resumed(parts, token, sub.session_id, state, sub.active_run)


async def stored_error(
    parts: SocketParts, token: str, session_id: str, state: RunState
) -> tuple[str, str] | None:
    """The run's `error` (code, message) as stored, once storage has every notice the client
    has: the session service stores what the stream holds a moment later (read again every
    STORED_POLL_S, up to CATCHUP_TIMEOUT_S; then what is stored)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + parts.settings.catchup_timeout_s
    while True:
        stored = stored_run(await session_of(parts, token, session_id), state.run_id)
        notices = [n for n in stored.get("notices") or () if _notice(n)]
        if len(notices) >= state.notices or loop.time() > deadline:
            return error_of(stored)
        await asyncio.sleep(STORED_POLL_S)


async def resumed(
    parts: SocketParts, token: str, session_id: str, state: RunState, active: ActiveRun | None
) -> tuple[list[str], RunMapper]:
    """Where the client stopped (or the start of a run just sent), its stream position lost:
    what it lacks of the run as of the catch-up state `active` (the subscription's events follow
    it); or, when the run is over, its end as stored."""
    mapper = RunMapper(session_id, state)
    prelude = mapper.started()
    text = RunText(parts, token, session_id, state.run_id)
    if active is not None and active.run_id == state.run_id:
        if active.seq > state.seq:
            session = await session_of(parts, token, session_id)
            stored = stored_run(session, state.run_id)
            mapper.failed_with(error_of(stored))
            prelude += mapper.tool_calls(active.tool_calls)
            prelude += mapper.notices(stored.get("notices") or [])
            missing = await text.since(state.chars, active.text_offset, active.text)
            prelude += mapper.text(missing, active.seq)
            prelude += mapper.reply(reply_of(session, state.run_id))
        return prelude, mapper
    session = await session_of(parts, token, session_id)  # stored at least up to `active`
    outcome = run_outcome(session, state.run_id)
    if outcome is not None and outcome.get("status") in TERMINAL:
        prelude += mapper.tool_calls(stored_calls(session, state.run_id))
        prelude += mapper.notices(outcome.get("notices") or [])
        tail, offset = str(outcome.get("text") or ""), int(outcome.get("text_offset") or 0)
        prelude += mapper.text(await text.since(state.chars, offset, tail), state.seq)
        prelude += mapper.reply(reply_of(session, state.run_id))
        prelude += mapper.finish(str(outcome["status"]), error_of(outcome))
    return prelude, mapper


async def joined(
    parts: SocketParts, token: str, session_id: str, client_id: str, active: ActiveRun | None
) -> Opening:
    """The run in progress, `active`, so far as a `MESSAGES_SNAPSHOT` (its text message left
    open for the live tail), or nothing yet: the stream waits for the session's next run."""
    if active is None:
        return [], None
    history = (await session_of(parts, token, session_id)).get("messages") or []
    text = RunText(parts, token, session_id, active.run_id)
    so_far = await text.since(0, active.text_offset, active.text)
    state = RunState(client_id, active.run_id, active.seq, len(so_far), open=False)
    mapper = RunMapper(session_id, state)
    prelude = mapper.started()
    prelude.append(sse(snapshot(history, active, so_far), mapper.event_id))
    prelude += mapper.opened()
    return prelude, mapper


Adopt = Callable[[dict[str, object], str], RunMapper | None]
"""For a stream waiting for the session's next run: a mapper for the run an event (at a stream
position) starts, or None."""


def adopter(session_id: str, client_id: str) -> Adopt:
    """The `Adopt` of a device's stream: a run's mapper from its `run_start` on."""

    def adopt(event: dict[str, object], position: str) -> RunMapper | None:
        run_id = event.get("run_id")
        if event.get("type") != "run_start" or not isinstance(run_id, str):
            return None
        return RunMapper(session_id, RunState(client_id, run_id), position)

    return adopt


def _notice(stored: Any) -> bool:
    return isinstance(stored, dict) and stored.get("type") in NOTICE_TYPES
