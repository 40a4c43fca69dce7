"""Everything a gateway process shares, built, started and closed in one place: the broker
links, the fan-out, the session service client, the metrics (`parts`) and the open connections
(`live`)."""

from switchboard_events import names_from
from switchboard_protocol import CatchUpReply

from .control import Control
from .fanout import FanOut
from .live import LiveSockets
from .metrics import Metrics
from .parts import SocketParts
from .settings import GatewaySettings
from .upstream import SessionService


class Hub:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        metrics = Metrics()
        names = names_from(settings)
        self.live = LiveSockets(metrics)
        control = Control(settings, names, self.live.release)

        async def catch_up(session_id: str) -> CatchUpReply:
            return await control.catch_up(session_id, settings.catchup_timeout_s)

        fanout = FanOut(settings, names, catch_up, control.mark)
        metrics.ring_bytes.set_function(lambda: fanout.ring.size)
        self.parts = SocketParts(
            settings, names, fanout, control, SessionService.from_settings(settings), metrics
        )

    async def start(self) -> None:
        await self.parts.control.start()
        await self.parts.fanout.start()

    async def close(self) -> None:
        try:
            await self.live.shutdown()
        finally:
            await self.parts.session_service.aclose()
            await self.parts.fanout.close()
            await self.parts.control.close()
