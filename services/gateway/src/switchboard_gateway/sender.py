"""Broker → socket: each AMQP message split into events, forwarded as text frames unchanged.

The hot path works per message, not per event: the body is decoded once and split as text,
one deadline covers the whole batch, and frames go straight to the socket (the websockets
protocol writes each frame atomically, so the receiver's replies need no lock either).

`ack=auto` acks a message once all its events were written; `ack=client` sends at most the ack
window and leaves acking to the device's `ack` frames. A batch whose frames are not written, or
a full window that does not drain, within SLOW_CONSUMER_TIMEOUT_S closes the socket with 4408.
"""

import asyncio
import json
import time

from aio_pika.abc import AbstractIncomingMessage
from switchboard_events import event_id

from . import closes
from .closes import Close
from .connection import Connection
from .window import AckWindow


async def send_events(conn: Connection) -> None:
    inbox = conn.device.inbox
    metrics = conn.parts.metrics
    while True:
        message = await inbox.get()
        if conn.stop_code is not None:
            raise Close(conn.stop_code, conn.stop_reason)
        if message is None:
            continue
        if message.redelivered:
            metrics.redeliveries.inc()
        lines = [line for line in message.body.decode().split("\n") if line]
        if message.routing_key and message.routing_key.endswith(".typing"):
            lines = _without_own_typing(lines, conn.caller.client_id)
        if conn.window is None:
            await _send_auto(conn, message, lines)
        else:
            await _send_windowed(conn, conn.window, message, lines)
        if lines:
            metrics.events.inc(len(lines))
            metrics.observe_latency(lines[-1], time.time())
        if message.routing_key and message.routing_key.endswith(".session_end"):
            raise Close(closes.SESSION_ENDED, "session ended")


async def _send_auto(conn: Connection, message: AbstractIncomingMessage, lines: list[str]) -> None:
    send = conn.send
    try:
        async with asyncio.timeout(conn.parts.settings.slow_consumer_timeout_s):
            for line in lines:
                await send(line)
    except TimeoutError as exc:
        raise Close(closes.SLOW_CONSUMER, "send did not complete in time") from exc
    await conn.device.ack((message,))


async def _send_windowed(
    conn: Connection, window: AckWindow, message: AbstractIncomingMessage, lines: list[str]
) -> None:
    """Send while the window has room; wait (bounded) for acks when it is full."""
    if not lines:
        await conn.device.ack((message,))
        return
    timeout = conn.parts.settings.slow_consumer_timeout_s
    send = conn.send
    last = len(lines) - 1
    i = 0
    while i <= last:
        if window.full:
            await _wait_for_room(conn, window, timeout)
        try:
            async with asyncio.timeout(timeout):
                while i <= last and not window.full:
                    await send(lines[i])
                    window.add(_id_of(lines[i]), message if i == last else None)
                    i += 1
        except TimeoutError as exc:
            raise Close(closes.SLOW_CONSUMER, "send did not complete in time") from exc


async def _wait_for_room(conn: Connection, window: AckWindow, timeout: float) -> None:
    if conn.stop_code is not None:
        raise Close(conn.stop_code, conn.stop_reason)
    try:
        async with asyncio.timeout(timeout):
            await window.wait_room()
    except TimeoutError as exc:
        raise Close(closes.SLOW_CONSUMER, "ack window stayed full") from exc
    if conn.stop_code is not None:
        raise Close(conn.stop_code, conn.stop_reason)


def _id_of(line: str) -> str:
    try:
        return event_id(line)
    except ValueError:  # json.JSONDecodeError included: a foreign frame gets no ack entry id
        return ""


def _without_own_typing(lines: list[str], client_id: str) -> list[str]:
    """A device does not need its own typing indicator echoed back."""
    kept = []
    for line in lines:
        try:
            meta = json.loads(line).get("metadata") or {}
        except (ValueError, AttributeError):
            meta = {}
        if not (isinstance(meta, dict) and meta.get("client_id") == client_id):
            kept.append(line)
    return kept
