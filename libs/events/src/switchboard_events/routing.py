"""Every exchange, queue and routing-key name in one place.

`session.<session_id>.<event_type>` on the `ai.events` topic exchange; one queue per device
`ai.session.<session_id>.<client_id>` bound with `session.<session_id>.#`.
"""

from dataclasses import dataclass
from typing import Any

from switchboard_protocol import InvalidName, check_name

from .settings import BrokerSettings

__all__ = [
    "CATCHUP_REQUEST",
    "DEAD_LETTER_SOURCES",
    "TRANSIENT_TYPES",
    "InvalidName",
    "Names",
    "check_name",
    "device_queue_arguments",
    "names_from",
]

TRANSIENT_TYPES: tuple[str, ...] = ("token",)
"""Event types published non-persistent (TRANSIENT_TOKENS, on by default): a broker restart may
lose those not yet delivered, and the run's `response` (persistent, stored) has their text."""

CATCHUP_REQUEST = "catchup"
"""AMQP `type` of a catch-up request on the run-progress queue (body `{"session_id"}`, with
`reply_to` and `correlation_id`); the answer is `{"active_run": {...} | null}`."""

LEASE_RENEWAL = "lease"
"""AMQP `type` of a run worker's lease renewal on the run-progress queue (body `{"worker",
"runs": [run_id, ...]}`, with `reply_to`); the answer `{"lost": [run_id, ...]}` names the runs
the worker no longer holds (docs/internals.md, "Run leases")."""

LOST_RUN_SEQ = 1_000_000_000
"""A run failed by the session service (`worker_lost`, `no_worker`) gets its `error` and
`run_end` at seq LOST_RUN_SEQ + 1 and + 2: its worker's last seq is unknown, so clients see a
hole and reload the run over REST (docs/protocol.md)."""

DEAD_LETTER_SOURCES: tuple[str, ...] = ("runs", "tools", "session-store")
"""Consumers that park what they cannot process: `ai.<source>` → `ai.dead-letters.<source>`."""


@dataclass(frozen=True)
class Names:
    """Broker names under one prefix."""

    prefix: str = ""

    @property
    def events_exchange(self) -> str:
        return f"{self.prefix}ai.events"

    @property
    def control_exchange(self) -> str:
        return f"{self.prefix}ai.control"

    @property
    def commands_exchange(self) -> str:
        return f"{self.prefix}ai.commands"

    @property
    def run_queue(self) -> str:
        return f"{self.prefix}ai.runs"

    @property
    def tool_queue(self) -> str:
        return f"{self.prefix}ai.tools"

    @property
    def persist_queue(self) -> str:
        return f"{self.prefix}ai.session-store"

    @property
    def progress_queue(self) -> str:
        return f"{self.prefix}ai.run-progress"

    @property
    def dead_letters_exchange(self) -> str:
        return f"{self.prefix}ai.dead-letters"

    def source_queue(self, source: str) -> str:
        """The shared queue a dead-letter source consumes (`runs` → `ai.runs`)."""
        if source not in DEAD_LETTER_SOURCES:
            raise ValueError(f"source must be one of {', '.join(DEAD_LETTER_SOURCES)}")
        return f"{self.prefix}ai.{source}"

    def dead_letter_queue(self, source: str) -> str:
        """Where `source`'s dead letters wait (`ai.dead-letters.runs`, ...)."""
        self.source_queue(source)
        return f"{self.prefix}ai.dead-letters.{source}"

    def device_queue(self, session_id: str, client_id: str) -> str:
        check_name(session_id, "session_id")
        check_name(client_id, "client_id")
        return f"{self.prefix}ai.session.{session_id}.{client_id}"

    @staticmethod
    def routing_key(session_id: str, event_type: str) -> str:
        return f"session.{session_id}.{event_type}"

    @staticmethod
    def session_binding(session_id: str) -> str:
        return f"session.{check_name(session_id, 'session_id')}.#"

    def gateway_queue(self, instance: str) -> str:
        """A gateway's own control queue (`ai.gateway.<instance>`): releases and catch-up
        answers."""
        return f"{self.prefix}ai.gateway.{instance}"

    # `ai.control` routing keys: `<kind>.<id>`, heard through the `<kind>.*` bindings below.
    CANCEL = "cancel"
    APPROVAL = "approval"
    TOOL_CANCEL = "tool-cancel"
    RELEASE = "release"

    @staticmethod
    def cancel_key(run_id: str) -> str:
        """`ai.control` key of a run's cancel, for the run worker running it."""
        return f"{Names.CANCEL}.{run_id}"

    @staticmethod
    def approval_key(call_id: str) -> str:
        """`ai.control` key of a tool decision for the run worker waiting on `call_id`."""
        return f"{Names.APPROVAL}.{call_id}"

    @staticmethod
    def tool_cancel_key(call_id: str) -> str:
        """`ai.control` key of a tool call's cancel, for the tool worker running it."""
        return f"{Names.TOOL_CANCEL}.{call_id}"

    @staticmethod
    def control_key(queue_name: str) -> str:
        """`ai.control` key of a device queue's release, heard by every gateway."""
        return f"{Names.RELEASE}.{queue_name}"

    @staticmethod
    def binding(kind: str) -> str:
        """The binding that hears every `ai.control` key of `kind` (`cancel.*`, ...);
        `release.#`, since a device queue's name has dots."""
        return f"{kind}.#" if kind == Names.RELEASE else f"{kind}.*"

    @staticmethod
    def key_id(kind: str, routing_key: str | None) -> str | None:
        """The id an `ai.control` key of `kind` names (`cancel.<run_id>` → run_id); None when
        the key is of another kind."""
        head, dot, rest = (routing_key or "").partition(".")
        return rest if dot and head == kind else None


def names_from(settings: BrokerSettings) -> Names:
    return Names(prefix=settings.broker_prefix)


def queue_type_arguments(queue_type: str) -> dict[str, Any]:
    """x-arguments every queue of this type gets: the type, and for quorum queues leaders
    spread over the cluster's nodes (`balanced`, RabbitMQ 3.10+) instead of all landing on the
    node the declaring process happens to be connected to."""
    if queue_type == "quorum":
        return {"x-queue-type": "quorum", "x-queue-leader-locator": "balanced"}
    return {"x-queue-type": queue_type}


def device_queue_arguments(settings: BrokerSettings) -> dict[str, Any]:
    """x-arguments of a device queue: lifetime, length cap, drop-head, queue type.

    Quorum queues ignore the exclusive flag of `basic.consume` (RabbitMQ 3.10: a second
    exclusive consumer is accepted), so a quorum device queue is single-active-consumer: two
    sockets of one device racing to consume never split its events between them.
    """
    arguments: dict[str, Any] = {
        "x-expires": settings.device_buffer_ttl_s * 1000,
        "x-max-length": settings.device_buffer_max_events,
        "x-overflow": "drop-head",
        **queue_type_arguments(settings.queue_type),
    }
    if settings.queue_type == "quorum":
        arguments["x-single-active-consumer"] = True
    return arguments
