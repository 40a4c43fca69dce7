"""Where a stream starts, from its subscription (fanout.subscribe): a position it recovered
(the session's events after it follow: nothing else to send first), else the subscription's
catch-up state (`active_run`; its events after that state follow) and what is stored, for a
run resumed (or sent just now) or joined in progress."""

from collections.abc import Callable

from switchboard_protocol import ActiveRun

from ..parts import SocketParts
from ..subscription import Subscription
from .calls import RunText, session_of
from .cursor import RunState
from .mapping import RunMapper, sse
from .snapshot import snapshot
from .stored import TERMINAL, error_of, reply_of, run_outcome, stored_calls, stored_run

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
            session = await session_of(parts, token, sub.session_id)
            mapper.failed_with(error_of(stored_run(session, state.run_id)))
        return mapper.started(), mapper
    return await resumed(parts, token, sub.session_id, state, sub.active_run)


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
