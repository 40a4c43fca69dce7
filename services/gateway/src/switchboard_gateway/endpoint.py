"""`/ai/ws/{session_id}`: handshake, then a sender, a receiver and an expiry watcher in one
task group; the first to end ends the others, and cleanup runs in `finally`."""

import asyncio
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from . import closes, frames
from .closes import Close
from .connection import Connection
from .handshake import handshake
from .hub import Hub
from .receiver import receive_frames
from .sender import send_events

log = logging.getLogger(__name__)


async def device_socket(websocket: WebSocket, session_id: str) -> None:
    hub: Hub = websocket.app.state.hub
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
        hello = frames.hello_frame(
            c.session_id, c.client_id, resumed, hub.settings.heartbeat_s, hub.settings.ack_window
        )
        await conn.send(hello)
        async with asyncio.TaskGroup() as group:
            group.create_task(send_events(conn))
            group.create_task(receive_frames(conn))
            group.create_task(watch_expiry(conn))
    except BaseExceptionGroup as group:
        raise _first_close(group) from None
    except (WebSocketDisconnect, OSError) as exc:
        raise Close(None) from exc
    finally:
        conn.consuming = False
        conn.cancel_background()
        await conn.device.close()


def _prefetch(conn: Connection) -> int:
    """AMQP messages in flight. With client acks the window, not the prefetch, must be what
    fills first (a message holds at least one event), or a device that acks every half window
    would wait for events the broker holds back until it acks."""
    settings = conn.hub.settings
    return max(settings.prefetch, settings.ack_window) if conn.window else settings.prefetch


async def watch_expiry(conn: Connection) -> None:
    """Close 4401 when the token expires (a `refresh` frame moves the expiry)."""
    while True:
        left = conn.caller.expires_at - time.time()
        if left <= 0:
            conn.stop(closes.UNAUTHENTICATED, "token expired")
            return
        await asyncio.sleep(min(left, 60.0))


def _first_close(group: BaseExceptionGroup) -> Close:
    for exc in _leaves(group):
        if isinstance(exc, Close):
            return exc
    for exc in _leaves(group):
        if isinstance(exc, WebSocketDisconnect | OSError):
            return Close(None)
    log.error("connection failed", exc_info=group)
    return Close(closes.INTERNAL, "internal error")


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


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
