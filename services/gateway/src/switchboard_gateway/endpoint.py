"""`/ai/ws/{session_id}`: handshake, then the sender (in the socket's own task) and a receiver
task; the first to end ends the other, and cleanup runs in `finally`. Token expiry is a loop
timer. Two tasks, not a task group of three: each task and its coroutine frames cost KBs, and
a gateway holds thousands of idle devices."""

import asyncio
import logging

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from starlette.websockets import WebSocket, WebSocketDisconnect
from switchboard_protocol import ActiveRun

from . import closes, frames
from .closes import Close
from .connection import Connection
from .handshake import handshake
from .hub import Hub
from .receiver import receive_frames
from .sender import send_events

log = logging.getLogger(__name__)


async def device_socket(websocket: WebSocket, session_id: str) -> None:
    """The FastAPI route (the ASGI fast path in asgi.py calls `run_socket` directly)."""
    await run_socket(websocket, websocket.app.state.hub, session_id)


async def run_socket(websocket: WebSocket, hub: Hub, session_id: str) -> None:
    await websocket.accept()
    conn: Connection | None = None
    try:
        if not hub.accepting:
            raise Close(closes.GOING_AWAY, "gateway shutting down")
        caller = await handshake(websocket, session_id, hub.settings, hub.sessions)
        conn = Connection(websocket, hub, caller)
        await serve(conn)
    except Close as close:
        await _close(websocket, hub, close)
    except Exception:
        log.exception("connection to %s failed", session_id[:64])
        await _close(websocket, hub, Close(closes.INTERNAL, "internal error"))
    finally:
        if conn is not None:
            hub.unregister(conn)  # only now: shutdown waits for the close frames to go out


async def serve(conn: Connection) -> None:
    """Run one authenticated connection until it ends; raises Close with how it ended."""
    hub = conn.hub
    hub.register(conn)
    try:
        resumed, took_over = await conn.device.open(conn.id, _prefetch(conn))
        if took_over:
            hub.metrics.takeovers.inc()
        conn.consuming = True
        c = conn.caller
        active_run = await _catch_up(conn, resumed)
        hello = frames.hello_frame(
            c.session_id,
            c.client_id,
            resumed,
            hub.settings.heartbeat_s,
            hub.settings.ack_window,
            active_run,
        )
        await conn.send(hello)
        conn.watch_expiry()
        await _pump(conn)
    except (WebSocketDisconnect, OSError) as exc:
        raise Close(None) from exc
    finally:
        conn.consuming = False
        conn.cancel_background()
        await conn.device.close()


async def _catch_up(conn: Connection, resumed: bool) -> ActiveRun | None:
    """The state of the session's run in progress, for a device whose buffer may lack its start:
    a new buffer, or a run that was already active when the device came back. Asked after the
    buffer is bound, so the state and the buffer together hold the whole run."""
    if resumed and conn.caller.active_run_id is None:
        return None
    timeout = conn.hub.settings.catchup_timeout_s
    try:
        active_run = await conn.hub.control.catch_up(conn.caller.session_id, timeout)
    except (TimeoutError, AMQPError, ChannelInvalidStateError, ValueError) as exc:
        raise Close(closes.TRY_AGAIN, "the run's catch-up state is not available") from exc
    return active_run


def _prefetch(conn: Connection) -> int:
    """AMQP messages in flight, derived so that no setting can stall a client: with client acks
    the window (events), not the prefetch (messages), must fill first (a message holds at least
    one event), or a device that acks every half window would wait for events the broker holds
    back until it acks. (`window` is tested against None: an empty AckWindow is falsy.)"""
    settings = conn.hub.settings
    if conn.window is None:
        return settings.prefetch
    return max(settings.prefetch, settings.ack_window)


async def _pump(conn: Connection) -> None:
    """Send in this task while a receiver task reads; whichever ends first ends the other.
    Raises Close with how the connection ended (the first to end decides, as in a task group)."""
    me = asyncio.current_task()
    assert me is not None
    receiver = asyncio.create_task(receive_frames(conn))
    receiver.add_done_callback(lambda _: me.cancel() if not conn.sender_done else None)
    first: list[BaseException] = []
    try:
        await send_events(conn)
    except asyncio.CancelledError:
        if not receiver.done() or me.uncancel() > 0:
            raise  # cancelled from outside (shutdown), not by the receiver
    except Exception as exc:  # noqa: BLE001 - sorted out by _first_close below
        first.append(exc)
    finally:
        conn.sender_done = True
        receiver.cancel()
    await asyncio.wait([receiver])
    failed = None if receiver.cancelled() else receiver.exception()
    if failed is not None:
        first.append(failed)
    raise _first_close(first)


def _first_close(errors: list[BaseException]) -> Close:
    """The first Close among how the sender and receiver ended (a disconnect: Close(None))."""
    for exc in errors:
        if isinstance(exc, Close):
            return exc
    for exc in errors:
        if isinstance(exc, WebSocketDisconnect | OSError):
            return Close(None)
    if errors:
        log.error("connection failed", exc_info=errors[0])
        return Close(closes.INTERNAL, "internal error")
    return Close(None)


async def _close(websocket: WebSocket, hub: Hub, close: Close) -> None:
    if close.code is None:
        return
    hub.metrics.closes.labels(str(close.code)).inc()
    if close.code == closes.SLOW_CONSUMER:
        hub.metrics.slow_closes.inc()
    try:
        await websocket.close(close.code, close.reason.encode()[:120].decode(errors="ignore"))
    except Exception as exc:  # noqa: BLE001 - the peer may be gone already
        log.debug("close %s failed: %r", close.code, exc)
