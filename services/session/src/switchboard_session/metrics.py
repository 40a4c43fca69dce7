"""Prometheus metrics, on a registry of the app's own (several apps may share a process)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "session_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "session_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.runs_started = Counter(
            "session_runs_dispatched_total", "Run requests sent to workers", registry=self.registry
        )
        self.outbox_published = Counter(
            "session_outbox_published_total",
            "Outbox rows (events, run requests, cancels) published and confirmed",
            registry=self.registry,
        )
        self.events_persisted = Counter(
            "session_events_persisted_total",
            "Events stored from the broker",
            ["type"],
            registry=self.registry,
        )
        self.runs_reaped = Counter(
            "session_runs_reaped_total",
            "Runs failed by the lease reaper (worker_lost, no_worker)",
            ["code"],
            registry=self.registry,
        )
        self.sessions_expired = Counter(
            "session_sessions_expired_total",
            "Sessions ended by the sweeper",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "session_dead_letters_total",
            "Messages this process dead-lettered",
            ["source", "reason"],
            registry=self.registry,
        )
        self.ingest_waits = Counter(
            "session_ingest_waits_total",
            "Requests that waited for ingest to store past their mark (marks.py), by outcome: "
            "stored, or not_stored (INGEST_WAIT_S passed, mark refused, listener lost)",
            ["outcome"],
            registry=self.registry,
        )
        self.ingest_owner = Gauge(
            "session_ingest_owner",
            "1 while this process owns ingest (reads the streams, answers catch-ups)",
            registry=self.registry,
        )
        self.dead_letters_waiting = Gauge(
            "session_dead_letters_waiting",
            "Messages waiting in each dead-letter queue (all processes; read at scrape)",
            ["source"],
            registry=self.registry,
        )
