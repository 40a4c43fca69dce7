"""A latency histogram with log-spaced buckets (about 2 % wide), cheap to merge and pickle."""

import math
from collections import Counter
from dataclasses import dataclass, field

_RATIO = math.log(1.02)
_FLOOR_S = 1e-5
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _bucket(seconds: float) -> int:
    return int(math.log(max(seconds, _FLOOR_S) / _FLOOR_S) / _RATIO)


def _upper(bucket: int) -> float:
    return _FLOOR_S * math.exp((bucket + 1) * _RATIO)


@dataclass
class Histogram:
    """Counts of latencies (seconds) by bucket; percentiles are bucket upper bounds."""

    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0
    max_s: float = 0.0

    def record(self, seconds: float) -> None:
        self.counts[_bucket(seconds)] += 1
        self.total += 1
        if seconds > self.max_s:
            self.max_s = seconds

    def merge(self, other: "Histogram") -> "Histogram":
        self.counts.update(other.counts)
        self.total += other.total
        self.max_s = max(self.max_s, other.max_s)
        return self

    def percentile(self, pct: float) -> float:
        """Latency (seconds) at or below which `pct` % of samples fall; 0 when empty."""
        if not self.total:
            return 0.0
        rank = math.ceil(self.total * pct / 100)
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(_upper(bucket), self.max_s)
        return self.max_s

    def summary_ms(self) -> dict[str, float]:
        """p50/p90/p99/p99.9 and max in milliseconds."""
        out = {f"p{p:g}": round(self.percentile(p) * 1000, 2) for p in PERCENTILES}
        out["max"] = round(self.max_s * 1000, 2)
        return out
