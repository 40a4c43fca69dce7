"""Everything a gateway process shares, built, started and closed in one place: the broker
links, the fan-out, the session service client, the metrics (`parts`) and the open connections
(`live`)."""

from switchboard_events import names_from
from switchboard_protocol import CatchUpReply, new_id

from .control import Control
from .fanout import FanOut
from .live import LiveSockets
from .metrics import Metrics
from .parts import SocketParts
from .presence import Presence
from .settings import GatewaySettings
from .upstream import SessionService


class Hub:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        metrics = Metrics()
        names = names_from(settings)
        self.live = LiveSockets(metrics)
        self.presence = Presence(new_id(), self.live.of_user)
        control = Control(settings, names, self.live.release, self.presence.heard)

        async def catch_up(session_id: str) -> CatchUpReply:
            return await control.catch_up(session_id, settings.catchup_timeout_s)

        fanout = FanOut(settings, names, catch_up, control.mark)
        metrics.ring_bytes.set_function(lambda: fanout.ring.size)
        self.parts = SocketParts(
            settings, names, fanout, control, SessionService.from_settings(settings), metrics
        )

    async def start(self) -> None:
        control = self.parts.control
        await control.start()
        await self.parts.fanout.start()
        await self.presence.start(control.announce, control.reply)

    async def close(self) -> None:
        try:
            await self.live.shutdown()
            await self.presence.close()
        finally:
            await self.parts.session_service.aclose()
            await self.parts.fanout.close()
            await self.parts.control.close()
