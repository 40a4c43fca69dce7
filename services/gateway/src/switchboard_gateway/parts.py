"""What a device connection works with: the narrow parts of the gateway it may use (never the
whole `Hub`, which only builds, starts and closes them)."""

from dataclasses import dataclass

from switchboard_events import Names

from .control import Control
from .fanout import FanOut
from .metrics import Metrics
from .settings import GatewaySettings
from .upstream import SessionService


@dataclass(frozen=True, slots=True)
class SocketParts:
    settings: GatewaySettings
    names: Names
    fanout: FanOut
    """The shard feeds and their subscriptions (fanout.py): where a device's events come from."""
    control: Control
    """Takeover releases, catch-up state, typing events (control.py)."""
    session_service: SessionService
    metrics: Metrics
