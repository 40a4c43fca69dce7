"""Subscription → socket: the frames the fan-out (or the replay) has for this device, written
as text frames, paced by the socket.

A socket whose writes make no progress for SLOW_CONSUMER_TIMEOUT_S (one deadline over what is
ready, pushed back as frames go out), or whose live buffer passes OUTBOUND_MAX_BYTES
(subscription.py), is closed 4408: the device resumes by cursor."""

import asyncio
import json
import time

from . import closes
from .closes import Close
from .connection import Connection
from .lines import Frame
from .subscription import SlowConsumer, Subscription


async def send_events(conn: Connection, sub: Subscription) -> None:
    metrics = conn.parts.metrics
    timeout = conn.parts.settings.slow_consumer_timeout_s
    while True:
        if conn.stop_code is not None:
            raise Close(conn.stop_code, conn.stop_reason)
        replayed = sub.replayed
        try:
            frames = await sub.frames()
        except SlowConsumer as exc:
            raise Close(closes.SLOW_CONSUMER, "too far behind; resume with your cursor") from exc
        if conn.stop_code is not None:
            raise Close(conn.stop_code, conn.stop_reason)
        if not frames:
            continue
        await _write(conn, frames, timeout)
        metrics.events.inc(len(frames))
        metrics.replayed.inc(sub.replayed - replayed)
        metrics.observe_latency(frames[-1].text, time.time())
        if any(frame.kind == "session_end" for frame in frames):
            raise Close(closes.SESSION_ENDED, "session ended")


async def _write(conn: Connection, frames: list[Frame], timeout: float) -> None:
    """Every frame but this device's own typing echoes, in order; TimeoutError (4408) when
    none goes out for `timeout` (the deadline moves when a tenth of it has passed)."""
    send = conn.send
    client_id = conn.caller.client_id
    loop = asyncio.get_running_loop()
    moved = loop.time()
    try:
        async with asyncio.timeout(timeout) as deadline:
            for frame in frames:
                if frame.kind == "typing" and _typed_by(frame, client_id):
                    continue
                await send(frame.text)
                if frame.kind == "session_end":
                    return
                now = loop.time()
                if now - moved > timeout / 10:
                    deadline.reschedule(now + timeout)
                    moved = now
    except TimeoutError as exc:
        raise Close(closes.SLOW_CONSUMER, "send made no progress in time") from exc


def _typed_by(frame: Frame, client_id: str) -> bool:
    """Whether a `typing` event came from this device (it needs no echo of its own)."""
    try:
        meta = json.loads(frame.text).get("metadata") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(meta, dict) and meta.get("client_id") == client_id
