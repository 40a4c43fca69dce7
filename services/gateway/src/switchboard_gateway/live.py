"""The gateway's open device connections (WebSockets and AG-UI streams): counted, handed over
on a takeover request, and closed at shutdown."""

import asyncio
import logging
from collections import defaultdict
from typing import Protocol

from . import closes
from .device import DeviceQueue
from .metrics import Metrics

log = logging.getLogger(__name__)


class Connection(Protocol):
    """What holds a device's buffer: a WebSocket (connection.py) or an AG-UI stream."""

    id: str
    device: DeviceQueue
    consuming: bool

    def stop(self, code: int, reason: str = "") -> None: ...


class LiveSockets:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.accepting = True
        self._live: set[Connection] = set()
        self._by_queue: dict[str, set[Connection]] = defaultdict(set)
        self._empty = asyncio.Event()
        self._empty.set()

    def register(self, conn: Connection) -> None:
        self._live.add(conn)
        self._by_queue[conn.device.name].add(conn)
        self._empty.clear()
        self.metrics.connections.set(len(self._live))

    def unregister(self, conn: Connection) -> None:
        self._live.discard(conn)
        holders = self._by_queue.get(conn.device.name)
        if holders is not None:
            holders.discard(conn)
            if not holders:
                del self._by_queue[conn.device.name]
        if not self._live:
            self._empty.set()
        self.metrics.connections.set(len(self._live))

    def release(self, queue: str, requester: str) -> None:
        """A newer connection wants `queue`: every consuming holder here closes with 4409."""
        for conn in list(self._by_queue.get(queue, ())):
            if conn.id != requester and conn.consuming:
                log.info("releasing %s to %s", queue, requester)
                conn.stop(closes.REPLACED, "replaced by a newer connection")

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting; close every socket 1001 (unacked events stay in the broker)."""
        self.accepting = False
        for conn in list(self._live):
            conn.stop(closes.GOING_AWAY, "gateway shutting down")
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        except TimeoutError:
            log.warning("%d connections still open at shutdown", len(self._live))
