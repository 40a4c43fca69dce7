"""A token bucket per connection, and strikes for frames refused while it is empty."""

import time


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "strikes", "tokens")

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.strikes = 0

    def allow(self) -> bool:
        """Take a token; False (and one more strike) when there is none."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= self.burst:
            self.strikes = 0
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.strikes += 1
        return False
