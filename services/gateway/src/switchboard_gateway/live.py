"""The gateway's open device connections (WebSockets and AG-UI streams): counted, closed 4409
when a newer connection of their device (session, client) announces itself on any replica, and
closed at shutdown."""

import asyncio
import logging
from collections import Counter, defaultdict
from typing import Protocol

from . import closes
from .metrics import Metrics

log = logging.getLogger(__name__)

Device = tuple[str, str]
"""(session id, client id)."""


class Connection(Protocol):
    """A WebSocket (connection.py) or an AG-UI stream: one device's live connection."""

    id: str
    """A ULID: connections of one device are ordered by it (the newest wins a takeover)."""

    @property
    def device(self) -> Device: ...

    def stop(self, code: int, reason: str = "") -> None: ...


class LiveSockets:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.accepting = True
        self._live: set[Connection] = set()
        self._by_device: dict[Device, set[Connection]] = defaultdict(set)
        self._by_user: Counter[str] = Counter()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._live)

    def of_user(self, user_id: str) -> int:
        """The user's live connections here (presence.py adds the other replicas')."""
        return self._by_user.get(user_id, 0)

    def register(self, conn: Connection) -> None:
        if conn not in self._live:
            self._count(conn, 1)
        self._live.add(conn)
        self._by_device[conn.device].add(conn)
        self._empty.clear()
        self.metrics.connections.set(len(self._live))

    def unregister(self, conn: Connection) -> None:
        if conn in self._live:
            self._count(conn, -1)
        self._live.discard(conn)
        holders = self._by_device.get(conn.device)
        if holders is not None:
            holders.discard(conn)
            if not holders:
                del self._by_device[conn.device]
        if not self._live:
            self._empty.set()
        self.metrics.connections.set(len(self._live))

    def _count(self, conn: Connection, step: int) -> None:
        user_id = getattr(conn, "user_id", None)  # an AG-UI stream may not say (not counted)
        if user_id is None:
            return
        self._by_user[user_id] += step
        if self._by_user[user_id] <= 0:
            del self._by_user[user_id]

    def release(self, session_id: str, client_id: str, requester: str) -> None:
        """Connection `requester` of this device connected (here or on another replica): every
        older one here closes with 4409. Ids are ULIDs, so a release that arrives late never
        closes a connection newer than its requester."""
        for conn in list(self._by_device.get((session_id, client_id), ())):
            if conn.id < requester:
                log.info("device %s.%s taken over by %s", session_id, client_id, requester)
                self.metrics.takeovers.inc()
                conn.stop(closes.REPLACED, "replaced by a newer connection")

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting; close every socket 1001 (devices resume by cursor elsewhere)."""
        self.accepting = False
        for conn in list(self._live):
            conn.stop(closes.GOING_AWAY, "gateway shutting down")
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        except TimeoutError:
            log.warning("%d connections still open at shutdown", len(self._live))
