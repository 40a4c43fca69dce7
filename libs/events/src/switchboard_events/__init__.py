"""Switchboard's shared event vocabulary and broker helpers."""

from .broker_connection import broker_connection
from .codec import encode, event_id, split_batch
from .ids import new_id
from .models import EVENT_ADAPTER, EVENT_TYPES, Event, make_event, parse_event
from .publisher import Publisher, PublishFailed
from .routing import PERSISTED_TYPES, InvalidName, Names, check_name, names_from
from .run_stream import RunStream
from .settings import BrokerSettings
from .topology import declare_device_queue, declare_topology, delete_topology, queue_exists

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "PERSISTED_TYPES",
    "BrokerSettings",
    "Event",
    "InvalidName",
    "Names",
    "PublishFailed",
    "Publisher",
    "RunStream",
    "broker_connection",
    "check_name",
    "declare_device_queue",
    "declare_topology",
    "delete_topology",
    "encode",
    "event_id",
    "make_event",
    "names_from",
    "new_id",
    "parse_event",
    "queue_exists",
    "split_batch",
]
