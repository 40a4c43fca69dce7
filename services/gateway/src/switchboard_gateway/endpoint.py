"""`/ai/ws/{session_id}`: handshake, then the sender (in the socket's own task) and a receiver
task; the first to end ends the other, and cleanup runs in `finally`. Token expiry is a loop
timer. Two tasks, not a task group of three: each task and its coroutine frames cost KBs, and
a gateway holds thousands of idle devices."""

import asyncio
import logging

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import closes, frames
from .closes import Close
from .connection import Connection
from .handshake import handshake
from .live import LiveSockets
from .metrics import Metrics
from .parts import SocketParts
from .receiver import receive_frames
from .sender import send_events
from .subscription import Subscription

log = logging.getLogger(__name__)


async def device_socket(websocket: WebSocket, session_id: str) -> None:
    """The FastAPI route (the ASGI fast path in asgi.py calls `run_socket` directly)."""
    hub = websocket.app.state.hub
    await run_socket(websocket, hub.live, hub.parts, session_id)


async def run_socket(
    websocket: WebSocket, live: LiveSockets, parts: SocketParts, session_id: str
) -> None:
    await websocket.accept()
    conn: Connection | None = None
    try:
        if not live.accepting:
            raise Close(closes.GOING_AWAY, "gateway shutting down")
        caller = await handshake(websocket, session_id, parts.settings, parts.session_service)
        conn = Connection(websocket, parts, caller)
        await serve(conn, live)
    except Close as close:
        await _close(websocket, parts.metrics, close)
    except Exception:
        log.exception("connection to %s failed", session_id[:64])
        await _close(websocket, parts.metrics, Close(closes.INTERNAL, "internal error"))
    finally:
        if conn is not None:
            live.unregister(conn)  # only now: shutdown waits for the close frames to go out


async def serve(conn: Connection, live: LiveSockets) -> None:
    """Run one authenticated connection until it ends; raises Close with how it ended."""
    live.register(conn)
    try:
        sub = await _subscribe(conn)
        conn.sub = sub
        if conn.stop_code is not None:  # replaced while joining
            raise Close(conn.stop_code, conn.stop_reason)
        await conn.send(_hello(conn, sub))
        if sub.invalid_cursor:
            await conn.send(frames.error_frame("invalid_cursor", "cursor not understood"))
        conn.watch_expiry()
        await _pump(conn, sub)
    except (WebSocketDisconnect, OSError) as exc:
        raise Close(None) from exc
    finally:
        conn.cancel_background()
        if conn.sub is not None:
            await conn.sub.close()


async def _subscribe(conn: Connection) -> Subscription:
    """Announce this connection to every replica (older ones of the device close 4409), then
    subscribe from the device's cursor (or the catch-up state)."""
    parts, c = conn.parts, conn.caller
    try:
        await parts.control.request_release(c.session_id, c.client_id, conn.id)
        sub = await parts.fanout.subscribe(
            c.session_id, c.cursor, c.active_run_id is None, c.idle_at
        )
    except (TimeoutError, ConnectionError, AMQPError, ChannelInvalidStateError, ValueError) as exc:
        log.warning("join of %s.%s failed: %r", c.session_id[:64], c.client_id, exc, exc_info=exc)
        raise Close(closes.TRY_AGAIN, "the session's events are not available; retry") from exc
    parts.metrics.joins.labels(sub.start).inc()
    return sub


def _hello(conn: Connection, sub: Subscription) -> str:
    c, settings = conn.caller, conn.parts.settings
    return frames.hello_frame(
        c.session_id,
        c.client_id,
        sub.recovered,
        settings.heartbeat_s,
        settings.ack_window,
        sub.active_run,
    )


async def _pump(conn: Connection, sub: Subscription) -> None:
    """Send in this task while a receiver task reads; whichever ends first ends the other.
    Raises Close with how the connection ended (the first to end decides, as in a task group)."""
    me = asyncio.current_task()
    assert me is not None
    receiver = asyncio.create_task(receive_frames(conn))
    receiver.add_done_callback(lambda _: me.cancel() if not conn.sender_done else None)
    first: list[BaseException] = []
    try:
        await send_events(conn, sub)
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


async def _close(websocket: WebSocket, metrics: Metrics, close: Close) -> None:
    if close.code is None:
        return
    metrics.closes.labels(str(close.code)).inc()
    if close.code == closes.SLOW_CONSUMER:
        metrics.slow_closes.inc()
    try:
        await websocket.close(close.code, close.reason.encode()[:120].decode(errors="ignore"))
    except Exception as exc:  # noqa: BLE001 - the peer may be gone already
        log.debug("close %s failed: %r", close.code, exc)
