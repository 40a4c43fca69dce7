"""Every exchange, queue and routing-key name in one place.

Session events go to K stream queues `ai.stream.<k>` (published on the default exchange, the
stream's name as routing key); a session's events are all in shard `shard_of(session_id, K)`.
Commands stay on the `ai.commands` work queues and the `ai.control` topic exchange.
"""

import zlib
from dataclasses import dataclass
from typing import Any

from switchboard_protocol import InvalidName, check_name

from .settings import BrokerSettings

__all__ = [
    "CATCHUP_REQUEST",
    "DEAD_LETTER_SOURCES",
    "InvalidName",
    "Names",
    "check_name",
    "names_from",
    "shard_of",
    "stream_arguments",
]

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
"""Consumers that park what they cannot process in `ai.dead-letters.<source>`: `runs` and
`tools` from their queues `ai.<source>`, `session-store` the events of the streams it could not
read (there is no `ai.session-store` queue)."""

SOURCE_QUEUES: tuple[str, ...] = ("runs", "tools")
"""The dead-letter sources that are queues (`ai.<source>`; a letter can be sent back there)."""


def shard_of(session_id: str, shards: int) -> int:
    """The stream shard that carries every event of `session_id` (of `shards`)."""
    return zlib.crc32(session_id.encode()) % shards


@dataclass(frozen=True)
class Names:
    """Broker names under one prefix."""

    prefix: str = ""

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
    def progress_queue(self) -> str:
        """The session service's RPC queue (catch-up and lease requests; no event bindings)."""
        return f"{self.prefix}ai.run-progress"

    @property
    def dead_letters_exchange(self) -> str:
        return f"{self.prefix}ai.dead-letters"

    @property
    def stream_base(self) -> str:
        """What every stream's name starts with (`ai.stream`; shard k is `ai.stream.<k>`)."""
        return f"{self.prefix}ai.stream"

    def stream(self, shard: int) -> str:
        """Stream queue of shard `shard` (`ai.stream.<k>`)."""
        return f"{self.stream_base}.{shard}"

    def streams(self, shards: int) -> list[str]:
        """Every stream queue of `shards` shards, in shard order."""
        return [self.stream(k) for k in range(shards)]

    def source_queue(self, source: str) -> str:
        """The shared queue a dead-letter source consumes (`runs` → `ai.runs`); ValueError for
        `session-store`, which reads the streams."""
        if source not in SOURCE_QUEUES:
            raise ValueError(f"source must be one of {', '.join(SOURCE_QUEUES)}")
        return f"{self.prefix}ai.{source}"

    def dead_letter_queue(self, source: str) -> str:
        """Where `source`'s dead letters wait (`ai.dead-letters.runs`, ...)."""
        if source not in DEAD_LETTER_SOURCES:
            raise ValueError(f"source must be one of {', '.join(DEAD_LETTER_SOURCES)}")
        return f"{self.prefix}ai.dead-letters.{source}"

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
    def control_key(device: str) -> str:
        """`ai.control` key of a device's release (`device` = `<session_id>.<client_id>`,
        see `release_key`), heard by every gateway."""
        return f"{Names.RELEASE}.{device}"

    @staticmethod
    def release_key(session_id: str, client_id: str) -> str:
        """`ai.control` key of a takeover of device `client_id` of `session_id`:
        `release.<session_id>.<client_id>`."""
        check_name(session_id, "session_id")
        check_name(client_id, "client_id")
        return Names.control_key(f"{session_id}.{client_id}")

    @staticmethod
    def binding(kind: str) -> str:
        """The binding that hears every `ai.control` key of `kind` (`cancel.*`, ...);
        `release.#`, since a release key has two parts."""
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


def stream_arguments(settings: BrokerSettings) -> dict[str, Any]:
    """x-arguments of a stream shard: retention by age and bytes, segment size, and leaders
    spread over a cluster's nodes (`balanced`, RabbitMQ 3.10+; replicas on every node)."""
    return {
        "x-queue-type": "stream",
        "x-queue-leader-locator": "balanced",
        "x-max-age": f"{settings.stream_max_age_s}s",
        "x-max-length-bytes": settings.stream_max_bytes,
        "x-stream-max-segment-size-bytes": settings.stream_segment_bytes,
    }
