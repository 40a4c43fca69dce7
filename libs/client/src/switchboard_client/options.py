"""Tunables of the event stream (defaults suit production; tests shorten them)."""

from dataclasses import dataclass, field

from .backoff import Backoff


@dataclass
class StreamOptions:
    ack: str = "client"
    """`client`: the SDK acks after processing; `auto`: the gateway releases on send."""
    hello_timeout_s: float = 10.0
    ack_delay_s: float | None = 0.2
    """Also ack the processed events when no new frame arrives for this long, so the gateway
    releases them early (fewer redeliveries after a reconnect). Progress never depends on it:
    the stream acks every half `ack_window` regardless. None: no quiet-time acks."""
    refresh_margin_s: float = 30.0
    """Send `refresh` this long before the token expires (at most half its remaining life)."""
    max_auth_retries: int = 3
    """Consecutive 4401 closes tolerated (each with a new token) before giving up."""
    dedupe_capacity: int = 4096
    backoff: Backoff = field(default_factory=Backoff)
