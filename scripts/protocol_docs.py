"""Write the protocol's machine-readable documents from switchboard_protocol (`make schema`):

- `docs/protocol.schema.json`: one JSON Schema 2020-12 document, every message under `$defs`;
- `docs/asyncapi.yaml`: AsyncAPI 3.0 of the WebSocket protocol and the broker channels, whose
  payloads point into the schema above. Addresses come from the code that routes (Names,
  topology, tool_rpc), so they cannot drift.

`python -m scripts.protocol_docs [DIR]` (default `docs/`); tests/protocol/test_docs.py fails when
the files are stale.
"""

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from switchboard_events import Names
from switchboard_events.codec import BATCH_CONTENT_TYPE, MARK_CONTENT_TYPE
from switchboard_events.routing import CATCHUP_REQUEST, LEASE_RENEWAL
from switchboard_events.topology import RUN_KEY, TOOL_KEY
from switchboard_protocol import commands, schema
from switchboard_protocol.commands import COMMANDS
from switchboard_protocol.events import EVENT_CLASSES
from switchboard_protocol.frames import CLIENT_FRAME_CLASSES, SERVER_FRAME_CLASSES

DOCS = Path(__file__).parents[1] / "docs"
SCHEMA_FILE = "protocol.schema.json"
ASYNCAPI_FILE = "asyncapi.yaml"


def _message(model: type[BaseModel]) -> dict[str, Any]:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    message: dict[str, Any] = {"name": model.__name__, "title": model.__name__}
    if doc:
        message["summary"] = doc
    message["payload"] = {"$ref": f"{SCHEMA_FILE}#/$defs/{model.__name__}"}
    return message


def _refs(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    return {m.__name__: {"$ref": f"#/components/messages/{m.__name__}"} for m in models}


def _amqp(exchange: str, kind: str = "topic") -> dict[str, Any]:
    exchange_binding = {"name": exchange, "type": kind, "durable": True, "vhost": "/"}
    return {"amqp": {"is": "routingKey", "exchange": exchange_binding, "bindingVersion": "0.3.0"}}


def _channel(address: str, description: str, models: tuple[type[BaseModel], ...], **more: Any):
    return {"address": address, "description": description, "messages": _refs(models), **more}


class _Dumper(yaml.SafeDumper):
    """No `&anchors`: a shared part is written out in full wherever it appears."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _channels(names: Names) -> dict[str, Any]:
    frames = CLIENT_FRAME_CLASSES + SERVER_FRAME_CLASSES + EVENT_CLASSES
    params = {"session_id": {"description": "The session (the id and name rule: `Name`)."}}
    return {
        "sessionStream": _channel(
            "/ai/ws/{session_id}",
            "One device's live connection to a session: "
            "`?client_id=<device>&cursor=<last cursor>`; "
            "client frames in, the hello, server frames and events out (docs/protocol.md).",
            frames,
            servers=[{"$ref": "#/servers/gateway"}],
            parameters=params,
        ),
        "events": _channel(
            names.stream("{shard}"),
            f"Every event, on one of the `STREAM_SHARDS` stream queues `{names.stream('{shard}')}` "
            "(published on the default exchange, the stream's name as routing key). A session's "
            "events are all in shard `crc32(session_id) % STREAM_SHARDS`. A message is a batch: "
            f"`{BATCH_CONTENT_TYPE}`, one encoded event per line (its index = the line number), "
            "events of any sessions and types of that shard in publish order; or a mark "
            f"(`{MARK_CONTENT_TYPE}`, body = the mark's id, no event: readers skip it). "
            "Gateways read each shard from `next` and fan out; the session service reads from "
            "its stored offset. An event's position is (shard, offset, index): its `cursor`.",
            EVENT_CLASSES,
            servers=[{"$ref": "#/servers/broker"}],
            parameters={"shard": {"description": "The shard, 0 .. STREAM_SHARDS - 1."}},
            bindings={
                "amqp": {
                    "is": "queue",
                    "queue": {
                        "name": names.stream("{shard}"),
                        "durable": True,
                        "exclusive": False,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        ),
        "runRequests": _channel(
            RUN_KEY,
            f"Session service → run workers, queue `{names.run_queue}`.",
            (commands.RunRequest,),
            servers=[{"$ref": "#/servers/broker"}],
            bindings=_amqp(names.commands_exchange, "direct"),
        ),
        "toolRequests": _channel(
            TOOL_KEY,
            f"Run worker → tool workers, queue `{names.tool_queue}`, with `reply_to` and "
            "`correlation_id` (= call_id); the reply goes to `reply_to` on the default exchange.",
            (commands.ToolCallRequest, commands.ToolListRequest),
            servers=[{"$ref": "#/servers/broker"}],
            bindings=_amqp(names.commands_exchange, "direct"),
        ),
        "toolReplies": _channel(
            "{reply_to}",
            "A tool worker's answer, to the run worker's reply queue (default exchange).",
            (commands.ToolReply,),
            servers=[{"$ref": "#/servers/broker"}],
            parameters={"reply_to": {"description": "The request's `reply_to`."}},
        ),
        "runCancels": _channel(
            names.cancel_key("{run_id}"),
            f"Session service → the run worker running `run_id` (`{names.control_exchange}`).",
            (commands.RunCancel,),
            servers=[{"$ref": "#/servers/broker"}],
            parameters={"run_id": {"description": "The run to stop."}},
            bindings=_amqp(names.control_exchange),
        ),
        "toolDecisions": _channel(
            names.approval_key("{call_id}"),
            "Session service → the run worker waiting on `call_id` (after Postgres took the "
            f"decision; `{names.control_exchange}`).",
            (commands.ToolDecisionCommand,),
            servers=[{"$ref": "#/servers/broker"}],
            parameters={"call_id": {"description": "The tool call decided."}},
            bindings=_amqp(names.control_exchange),
        ),
        "toolCancels": _channel(
            names.tool_cancel_key("{call_id}"),
            f"Run worker → tool workers: stop `call_id` (`{names.control_exchange}`).",
            (commands.ToolCancel,),
            servers=[{"$ref": "#/servers/broker"}],
            parameters={"call_id": {"description": "The tool call to stop."}},
            bindings=_amqp(names.control_exchange),
        ),
        "releases": _channel(
            names.control_key("{session_id}.{client_id}"),
            "Gateway → gateways: a newer connection of device `client_id` of `session_id` "
            "took over; every other socket of that device closes 4409 "
            f"(`{names.control_exchange}`).",
            (commands.Release,),
            servers=[{"$ref": "#/servers/broker"}],
            parameters={
                "session_id": {"description": "The session."},
                "client_id": {"description": "The device."},
            },
            bindings=_amqp(names.control_exchange),
        ),
        "catchUp": _channel(
            names.progress_queue,
            f"Gateway → session service on the `{names.progress_queue}` queue (default "
            f"exchange), AMQP `type` `{CATCHUP_REQUEST}`, with `reply_to` and `correlation_id`; "
            "the reply goes to `reply_to`.",
            (commands.CatchUpRequest, commands.CatchUpReply),
            servers=[{"$ref": "#/servers/broker"}],
        ),
        "leases": _channel(
            names.progress_queue,
            f"Run worker → session service on the `{names.progress_queue}` queue (default "
            f"exchange), AMQP `type` `{LEASE_RENEWAL}`, `reply_to` the worker's control queue; "
            "the reply (same `type`) names the runs the worker no longer holds.",
            (commands.LeaseRenewal, commands.LeaseReply),
            servers=[{"$ref": "#/servers/broker"}],
        ),
    }


def _operation(action: str, channel: str, description: str, models: tuple[type[BaseModel], ...]):
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "description": description,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m.__name__}"} for m in models],
    }


def _operations() -> dict[str, Any]:
    """From the point of view of the Switchboard services (the gateway, on the WebSocket)."""
    return {
        "receiveClientFrames": _operation(
            "receive", "sessionStream", "The gateway takes client frames.", CLIENT_FRAME_CLASSES
        ),
        "sendServerFrames": _operation(
            "send",
            "sessionStream",
            "The gateway sends the hello and its answers.",
            SERVER_FRAME_CLASSES,
        ),
        "sendEvents": _operation(
            "send",
            "sessionStream",
            "The gateway forwards the session's events, unchanged.",
            EVENT_CLASSES,
        ),
        "publishEvents": _operation(
            "send",
            "events",
            "Run workers, the session service and gateways (typing) publish event batches.",
            EVENT_CLASSES,
        ),
        "requestRuns": _operation(
            "send", "runRequests", "The session service, from its outbox.", (commands.RunRequest,)
        ),
        "callTools": _operation(
            "send",
            "toolRequests",
            "The run worker asks the tool workers.",
            (commands.ToolCallRequest, commands.ToolListRequest),
        ),
        "replyTools": _operation(
            "send", "toolReplies", "A tool worker answers.", (commands.ToolReply,)
        ),
        "cancelRuns": _operation(
            "send", "runCancels", "The session service, from its outbox.", (commands.RunCancel,)
        ),
        "decideTools": _operation(
            "send",
            "toolDecisions",
            "The session service, from its outbox.",
            (commands.ToolDecisionCommand,),
        ),
        "cancelTools": _operation("send", "toolCancels", "The run worker.", (commands.ToolCancel,)),
        "releaseDevices": _operation(
            "send",
            "releases",
            "A gateway, on every connect of a device.",
            (commands.Release,),
        ),
        "catchUp": _operation(
            "send",
            "catchUp",
            "A gateway asks; the session service replies.",
            (commands.CatchUpRequest, commands.CatchUpReply),
        ),
        "leases": _operation(
            "send",
            "leases",
            "A run worker renews its runs' leases; the session service replies.",
            (commands.LeaseRenewal, commands.LeaseReply),
        ),
    }


def asyncapi() -> dict[str, Any]:
    models = (*CLIENT_FRAME_CLASSES, *SERVER_FRAME_CLASSES, *EVENT_CLASSES, *COMMANDS)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard",
            "version": "0.1.0",
            "description": "The WebSocket protocol clients speak (docs/protocol.md) and the "
            "broker channels the services speak (docs/internals.md). Generated by "
            "`make schema` from switchboard_protocol; payloads are in protocol.schema.json. "
            "Broker names are shown without BROKER_PREFIX.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "gateway": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "description": "A gateway replica (any); authenticate with the first frame.",
            },
            "broker": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ, shared by every service.",
            },
        },
        "channels": _channels(Names()),
        "operations": _operations(),
        "components": {"messages": {m.__name__: _message(m) for m in models}},
    }


def render() -> dict[str, str]:
    """File name → content."""
    return {
        SCHEMA_FILE: schema.render(),
        ASYNCAPI_FILE: yaml.dump(
            asyncapi(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True
        ),
    }


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")


if __name__ == "__main__":
    main()
