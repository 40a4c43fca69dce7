"""Prometheus metrics of one gateway process (own registry, so apps in one process never clash)."""

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_TIMESTAMP = '"timestamp":"'
SAMPLE_EVERY = 16
"""Latency is measured on one event in this many (parsing a timestamp is not free)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("gateway_connections", "Live WebSocket connections", registry=r)
        self.events = Counter("gateway_events_delivered", "Events written to sockets", registry=r)
        self.acks = Counter(
            "gateway_client_acks", "Ack frames (accepted; delivery does not need them)", registry=r
        )
        self.replayed = Counter(
            "gateway_events_replayed", "Events sent from the replay (ring or stream)", registry=r
        )
        self.joins = Counter(
            "gateway_joins", "Subscriptions by how they started", ["start"], registry=r
        )
        self.ring_bytes = Gauge("gateway_replay_ring_bytes", "Bytes in the replay ring", registry=r)
        self.latency = Histogram(
            "gateway_publish_to_send_seconds",
            "From an event's timestamp to its write to the socket (sampled)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.takeovers = Counter(
            "gateway_takeovers", "Connections closed 4409 for a newer one", registry=r
        )
        self.slow_closes = Counter("gateway_slow_consumer_closes", "Closes with 4408", registry=r)
        self.closes = Counter("gateway_closes", "Closes by code", ["code"], registry=r)
        self._tick = 0

    def observe_latency(self, raw: str, now: float) -> None:
        """Every SAMPLE_EVERY-th call: the event's age, read from its `timestamp` field."""
        self._tick += 1
        if self._tick % SAMPLE_EVERY:
            return
        start = raw.find(_TIMESTAMP)
        if start < 0:
            return
        start += len(_TIMESTAMP)
        end = raw.find('"', start)
        try:
            stamp = datetime.fromisoformat(raw[start:end]).timestamp()
        except ValueError:
            return
        self.latency.observe(max(0.0, now - stamp))
