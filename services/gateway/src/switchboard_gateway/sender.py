"""Broker → socket: each AMQP message split into events, forwarded as text frames unchanged.

`ack=auto` acks a message once all its events were written; `ack=client` sends at most the ack
window and leaves acking to the device's `ack` frames. A send that does not complete, or a full
window that does not drain, within SLOW_CONSUMER_TIMEOUT_S closes the socket with 4408.
"""

import asyncio
import json
import time

from aio_pika.abc import AbstractIncomingMessage
from switchboard_events import event_id, split_batch

from . import closes
from .closes import Close
from .connection import Connection
from .window import AckWindow


async def send_events(conn: Connection) -> None:
    inbox = conn.device.inbox
    metrics = conn.hub.metrics
    while True:
        message = await inbox.get()
        if conn.stop_code is not None:
            raise Close(conn.stop_code, conn.stop_reason)
        if message is None:
            continue
        if message.redelivered:
            metrics.redeliveries.inc()
        lines = split_batch(message.body)
        if message.routing_key and message.routing_key.endswith(".typing"):
            lines = _without_own_typing(lines, conn.caller.client_id)
        if conn.window is None:
            await _send_auto(conn, message, lines)
        else:
            await _send_windowed(conn, conn.window, message, lines)
        if lines:
            metrics.events.inc(len(lines))
            metrics.observe_latency(lines[-1], time.time())


async def _send_auto(
    conn: Connection, message: AbstractIncomingMessage, lines: list[bytes]
) -> None:
    try:
        async with asyncio.timeout(conn.hub.settings.slow_consumer_timeout_s):
            for line in lines:
                await conn.send(line.decode())
    except TimeoutError as exc:
        raise Close(closes.SLOW_CONSUMER, "send did not complete in time") from exc
    await message.ack()


async def _send_windowed(
    conn: Connection, window: AckWindow, message: AbstractIncomingMessage, lines: list[bytes]
) -> None:
    timeout = conn.hub.settings.slow_consumer_timeout_s
    if not lines:
        await message.ack()
        return
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if not window.room.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await window.room.wait()
            except TimeoutError as exc:
                raise Close(closes.SLOW_CONSUMER, "ack window stayed full") from exc
            if conn.stop_code is not None:
                raise Close(conn.stop_code, conn.stop_reason)
        try:
            async with asyncio.timeout(timeout):
                await conn.send(line.decode())
        except TimeoutError as exc:
            raise Close(closes.SLOW_CONSUMER, "send did not complete in time") from exc
        window.add(_id_of(line), message if i == last else None)


def _id_of(line: bytes) -> str:
    try:
        return event_id(line)
    except ValueError:
        return ""


def _without_own_typing(lines: list[bytes], client_id: str) -> list[bytes]:
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
