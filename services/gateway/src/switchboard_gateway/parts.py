"""What a device connection works with: the narrow parts of the gateway it may use (never the
whole `Hub`, which only builds, starts and closes them)."""

from dataclasses import dataclass

from switchboard_events import Names

from .control import Control
from .metrics import Metrics
from .pool import ChannelPool
from .settings import GatewaySettings
from .upstream import SessionService


@dataclass(frozen=True, slots=True)
class SocketParts:
    settings: GatewaySettings
    names: Names
    pool: ChannelPool
    """Shared consumer channels for device queues (device.py)."""
    control: Control
    """Takeover requests and catch-up state (control.py)."""
    session_service: SessionService
    metrics: Metrics
