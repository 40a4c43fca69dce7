"""When to ack: every half window (that alone guarantees progress), and on close."""


class AckState:
    """The newest processed-but-unacked event id and how many events it covers."""

    def __init__(self, window: int = 256) -> None:
        self.every = max(1, window // 2)
        self.pending_id: str | None = None
        self.pending_count = 0

    def processed(self, event_id: str) -> bool:
        """Record a processed event; True when an ack is due now (half a window)."""
        self.pending_id = event_id
        self.pending_count += 1
        return self.pending_count >= self.every

    def take(self) -> str | None:
        """The id to ack (cumulative), clearing the pending state."""
        event_id, self.pending_id, self.pending_count = self.pending_id, None, 0
        return event_id
