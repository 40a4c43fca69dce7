"""Every exchange, queue and routing-key name in one place.

`session.<session_id>.<event_type>` on the `ai.events` topic exchange; one queue per device
`ai.session.<session_id>.<client_id>` bound with `session.<session_id>.#`.
"""

import re
from dataclasses import dataclass
from typing import Any

from .settings import BrokerSettings

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

PERSISTED_TYPES: tuple[str, ...] = (
    "response",
    "tool_call",
    "tool_result",
    "agent_switch",
    "error",
    "run_start",
    "run_end",
    "session_start",
    "session_end",
)
"""Event types the session service stores (never the token firehose)."""

TRANSIENT_TYPES: tuple[str, ...] = ("token",)
"""Event types published non-persistent (TRANSIENT_TOKENS, on by default): a broker restart may
lose those not yet delivered, and the run's `response` (persistent, stored) has their text."""

PROGRESS_TYPES: tuple[str, ...] = (
    "run_start",
    "token",
    "thinking",
    "waiting",
    "tool_call",
    "tool_result",
    "agent_switch",
    "tts",
    "warning",
    "error",
    "response",
    "run_end",
)
"""Event types of a run that the run-progress queue folds into its catch-up state: every type a
run publishes, so that the state's `seq` covers the run without holes."""

CATCHUP_REQUEST = "catchup"
"""AMQP `type` of a catch-up request on the run-progress queue (body `{"session_id"}`, with
`reply_to` and `correlation_id`); the answer is `{"active_run": {...} | null}`."""

DEAD_LETTER_SOURCES: tuple[str, ...] = ("runs", "tools", "session-store")
"""Consumers that park what they cannot process: `ai.<source>` → `ai.dead-letters.<source>`."""


class InvalidName(ValueError):
    """A session or client id that cannot be part of a queue name or routing key."""


def check_name(value: str, what: str = "id") -> str:
    """`value` if it is `[A-Za-z0-9_-]{1,64}`, else InvalidName (no dots, wildcards, slashes)."""
    if not _NAME.fullmatch(value):
        raise InvalidName(f"{what} must match [A-Za-z0-9_-]{{1,64}}")
    return value


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

    @staticmethod
    def cancel_key(run_id: str) -> str:
        return f"cancel.{run_id}"

    @staticmethod
    def approval_key(call_id: str) -> str:
        """`ai.control` key of a tool decision for the run worker waiting on `call_id`."""
        return f"approval.{call_id}"

    @staticmethod
    def control_key(queue_name: str) -> str:
        return f"release.{queue_name}"


def names_from(settings: BrokerSettings) -> Names:
    return Names(prefix=settings.broker_prefix)


def device_queue_arguments(settings: BrokerSettings) -> dict[str, Any]:
    """x-arguments of a device queue: lifetime, length cap, drop-head, queue type."""
    return {
        "x-expires": settings.device_buffer_ttl_s * 1000,
        "x-max-length": settings.device_buffer_max_events,
        "x-overflow": "drop-head",
        "x-queue-type": settings.queue_type,
    }
