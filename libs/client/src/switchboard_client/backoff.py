"""Reconnect delays: exponential growth with full jitter, reset after a good connection."""

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """`next_delay()` is uniform in [base/2, min(cap, base * factor**attempt)]."""

    base_s: float = 0.25
    cap_s: float = 15.0
    factor: float = 2.0
    attempt: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * self.factor**self.attempt)
        self.attempt += 1
        return self._rng.uniform(min(self.base_s / 2, ceiling), ceiling)

    def reset(self) -> None:
        self.attempt = 0
