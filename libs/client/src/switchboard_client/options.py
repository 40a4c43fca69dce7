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
    whole_catch_up: bool = True
    """A catch-up of a long run (its hello's `active_run.text` is the tail, `text_offset` > 0)
    is yielded with the head read over REST first, so `text` is the whole answer so far.
    False: yielded at once with the tail and `text_offset` (read the head with
    `client.run_text(session_id, run_id, end=text_offset)`)."""
    backoff: Backoff = field(default_factory=Backoff)
