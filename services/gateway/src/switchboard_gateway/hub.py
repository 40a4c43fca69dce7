"""Everything a gateway process shares: broker links, the HTTP client, live connections."""

import asyncio
import logging
from collections import defaultdict

import httpx
from switchboard_events import names_from

from . import closes
from .connection import Connection
from .control import Control
from .metrics import Metrics
from .pool import ChannelPool
from .settings import GatewaySettings
from .upstream import SessionService

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.names = names_from(settings)
        self.metrics = Metrics()
        self.pool = ChannelPool(
            settings.broker_urls,
            settings.consumers_per_channel,
            probe_channels=settings.probe_channels,
        )
        self.control = Control(settings, self.names, self.release)
        self.http = httpx.AsyncClient(
            timeout=settings.upstream_timeout_s,
            limits=httpx.Limits(
                max_connections=settings.upstream_connections,
                max_keepalive_connections=settings.upstream_connections,
            ),
        )
        self.sessions = SessionService(self.http, settings.session_url)
        self.accepting = True
        self._live: set[Connection] = set()
        self._by_queue: dict[str, set[Connection]] = defaultdict(set)
        self._empty = asyncio.Event()
        self._empty.set()

    async def start(self) -> None:
        await self.pool.start()
        await self.control.start()

    async def close(self) -> None:
        try:
            await self.shutdown()
        finally:
            await self.http.aclose()
            await self.control.close()
            await self.pool.close()

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

    @property
    def live_connections(self) -> int:
        return len(self._live)

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
