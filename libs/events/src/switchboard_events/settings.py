"""Broker settings shared by every service (environment variables, read once)."""

import logging
import os
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings


class BrokerSettings(BaseSettings):
    """Where the broker is, how names are prefixed, the event streams and publishing."""

    OPERATOR: ClassVar[frozenset[str]] = frozenset({"AMQP_URL", "BROKER_PREFIX", "QUEUE_TYPE"})
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        alias="AMQP_URL",
        validation_alias=AliasChoices("AMQP_URL", "amqp_url", "AMQP_URLS"),
    )
    """RabbitMQ URL (a vhost path selects the vhost); several, comma-separated, for a cluster:
    a process connects to one and fails over to the others. `AMQP_URLS` is a deprecated
    alias, read only when `AMQP_URL` is unset (a warning says so at start)."""
    broker_prefix: str = Field(default="", alias="BROKER_PREFIX")
    """Prepended to every exchange and queue name (isolates test runs and tenants)."""
    queue_type: Literal["classic", "quorum"] = Field(default="classic", alias="QUEUE_TYPE")
    """`classic`, or `quorum` for a clustered broker (the work queues: runs, tools, RPCs and
    dead letters; session events are on streams, replicated on a cluster whatever this says)."""
    stream_shards: int = Field(default=4, ge=1, le=1024, alias="STREAM_SHARDS")
    """How many stream queues (`ai.stream.<k>`) carry the session events; a session is in
    shard crc32(session_id) % STREAM_SHARDS. Every process of a deployment must agree."""
    stream_max_age_s: int = Field(default=3600, ge=1, alias="STREAM_MAX_AGE_S")
    """How long a stream keeps events (x-max-age): how far back a device can resume."""
    stream_max_bytes: int = Field(default=1 << 30, ge=1, alias="STREAM_MAX_BYTES")
    """Most bytes each stream shard keeps (x-max-length-bytes); the oldest segments go first."""
    stream_segment_bytes: int = Field(default=16 << 20, ge=1, alias="STREAM_SEGMENT_BYTES")
    """Size of a stream's segment files (x-stream-max-segment-size-bytes): retention drops whole
    segments."""
    dead_letter_max: int = Field(default=10_000, ge=1, alias="DEAD_LETTER_MAX")
    """Most messages each dead-letter queue keeps; the oldest are dropped beyond (drop-head)."""
    coalesce_window_ms: float = Field(default=0.0, ge=0, alias="COALESCE_WINDOW_MS")
    """Extra linger before a publisher sends a shard's batch (0: send as soon as the shard's
    previous batch is confirmed; events arriving meanwhile share one message)."""
    coalesce_max_events: int = Field(default=256, ge=1, alias="COALESCE_MAX_EVENTS")
    """Most events in one batch message."""
    publish_retry_s: float = Field(default=30.0, ge=0, alias="PUBLISH_RETRY_S")
    """How long a publisher keeps re-sending a message whose connection was lost before its
    confirm (reconnecting to another node meanwhile); then the publish fails."""

    def model_post_init(self, context: Any, /) -> None:
        if any(name.upper() == "AMQP_URLS" for name in os.environ):
            logging.getLogger(__name__).warning(
                "AMQP_URLS is deprecated: set AMQP_URL (comma-separated for several nodes)"
            )

    @property
    def broker_urls(self) -> list[str]:
        """Every broker address: `AMQP_URL` split on commas."""
        urls = [u.strip() for u in self.amqp_url.split(",") if u.strip()]
        if not urls:
            raise ValueError("AMQP_URL names no broker")
        return urls
