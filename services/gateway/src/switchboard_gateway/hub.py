"""Everything a gateway process shares, built, started and closed in one place: the broker
links, the session service client, the metrics (`parts`) and the open connections (`live`)."""

from switchboard_events import names_from

from .control import Control
from .live import LiveSockets
from .metrics import Metrics
from .parts import SocketParts
from .pool import ChannelPool
from .settings import GatewaySettings
from .upstream import SessionService


class Hub:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        metrics = Metrics()
        names = names_from(settings)
        # quorum device queues: a channel per device, so that every release is a channel's
        # close (atomic; see ChannelPool.close_alone and docs/operating.md)
        per_channel = 1 if settings.queue_type == "quorum" else settings.consumers_per_channel
        pool = ChannelPool(
            settings.broker_urls,
            per_channel,
            probe_channels=settings.probe_channels,
        )
        self.live = LiveSockets(metrics)
        control = Control(settings, names, self.live.release)
        self.parts = SocketParts(
            settings, names, pool, control, SessionService.from_settings(settings), metrics
        )

    async def start(self) -> None:
        await self.parts.pool.start()
        await self.parts.control.start()

    async def close(self) -> None:
        try:
            await self.live.shutdown()
        finally:
            await self.parts.session_service.aclose()
            await self.parts.control.close()
            await self.parts.pool.close()
