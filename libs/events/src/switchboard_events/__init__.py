"""Switchboard's broker helpers: publisher, topology, routing names, auth and HTTP guards.

The messages themselves live in `switchboard_protocol`; the few names below that come from it
are re-exported for code written before it (new code imports `switchboard_protocol`).
"""

from switchboard_protocol import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    PERSISTED_TYPES,
    Event,
    InvalidName,
    check_name,
    make_event,
    new_id,
    parse_event,
)

from .broker_connection import broker_connection
from .codec import encode, encode_batch, event_head, event_id, split_batch
from .publisher import Publisher, PublishFailed, renew_channel
from .routing import Names, names_from, shard_of
from .run_stream import RunStream
from .settings import BrokerSettings
from .stream_reader import OnBatch, OnMark, StreamReader, read_range
from .topology import declare_topology, delete_topology, queue_exists

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "PERSISTED_TYPES",
    "BrokerSettings",
    "Event",
    "InvalidName",
    "Names",
    "OnBatch",
    "OnMark",
    "PublishFailed",
    "Publisher",
    "RunStream",
    "StreamReader",
    "broker_connection",
    "check_name",
    "declare_topology",
    "delete_topology",
    "encode",
    "encode_batch",
    "event_head",
    "event_id",
    "make_event",
    "names_from",
    "new_id",
    "parse_event",
    "queue_exists",
    "read_range",
    "renew_channel",
    "shard_of",
    "split_batch",
]
