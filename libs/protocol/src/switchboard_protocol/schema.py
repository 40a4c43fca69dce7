"""One JSON Schema (2020-12) document of the whole protocol: every message model under `$defs`
by its class name, plus the unions (`Event`, `ClientFrame`, `ServerFrame`, discriminated on
`type`), `EventType`, `CloseCode` and `Name`. `scripts/protocol_docs.py` writes it to
`docs/protocol.schema.json` (`make schema`); TypeScript types are generated from its `$defs`.

What the services write is described as written (a field with a default is always there, so it
is required; one left out when unset is not); client frames as the gateway accepts them (a
field with a default may be left out).
"""

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .closes import CLOSE_DESCRIPTIONS, FATAL_CLOSES, CloseCode
from .commands import COMMANDS
from .errors import ErrorEnvelope
from .events import EVENT_ADAPTER, EVENT_CLASSES, EVENT_TYPES
from .frames import (
    CLIENT_FRAME_ADAPTER,
    CLIENT_FRAME_CLASSES,
    SERVER_FRAME_ADAPTER,
    SERVER_FRAME_CLASSES,
)
from .names import NAME_PATTERN
from .runs import ActiveRun, Run, TextPiece

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF = "#/$defs/{model}"

MODELS: tuple[type[BaseModel], ...] = (
    *EVENT_CLASSES,
    *SERVER_FRAME_CLASSES,
    *COMMANDS,
    ErrorEnvelope,
    Run,
    ActiveRun,
    TextPiece,
)
"""Every message model that gets its own `$defs` entry (their parts get one too)."""

UNIONS: dict[str, tuple[TypeAdapter[Any], JsonSchemaMode, str]] = {
    "Event": (EVENT_ADAPTER, "serialization", "Any event, told apart by `type`."),
    "ClientFrame": (
        CLIENT_FRAME_ADAPTER,
        "validation",
        "Any text frame a client sends, told apart by `type`.",
    ),
    "ServerFrame": (
        SERVER_FRAME_ADAPTER,
        "serialization",
        "Any text frame the gateway sends that is not an event, told apart by `type` (an error "
        "frame has no `id`; an `error` event has one).",
    ),
}


def protocol_schema() -> dict[str, Any]:
    """The document, as a dict (deterministic: same models, same document)."""
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "serialization") for model in MODELS),
        *((model, "validation") for model in CLIENT_FRAME_CLASSES),
    ]
    _, models = models_json_schema(inputs, by_alias=True, ref_template=REF)
    defs: dict[str, Any] = dict(models.get("$defs", {}))
    for name, (adapter, mode, description) in UNIONS.items():
        union = adapter.json_schema(by_alias=True, ref_template=REF, mode=mode)
        _merge(defs, union.pop("$defs", {}))
        _merge(defs, {name: {**union, "title": name, "description": description}})
    _merge(defs, _extras())
    for schema in defs.values():
        _require_type(schema)
    return {
        "$schema": DIALECT,
        "title": "Switchboard protocol",
        "description": "Every message that crosses a process boundary in Switchboard (events, "
        "WebSocket frames, broker commands, the error envelope, close codes), generated from "
        "the switchboard_protocol package. Readers ignore unknown fields and event types; "
        "writers send none.",
        "$defs": dict(sorted(defs.items())),
    }


def _extras() -> dict[str, Any]:
    return {
        "EventType": {
            "title": "EventType",
            "description": "The `type` of every event.",
            "type": "string",
            "enum": list(EVENT_TYPES),
        },
        "CloseCode": {
            "title": "CloseCode",
            "description": "WebSocket close codes the gateway uses.",
            "type": "integer",
            "oneOf": [
                {"const": int(code), "title": code.name, "description": CLOSE_DESCRIPTIONS[code]}
                for code in CloseCode
            ],
            "x-enum-varnames": [code.name for code in CloseCode],
            "x-fatal": sorted(FATAL_CLOSES),
        },
        "Name": {
            "title": "Name",
            "description": "The id and name rule: session, client, run and call ids, agent and "
            "tool names (they become parts of queue names and routing keys).",
            "type": "string",
            "pattern": NAME_PATTERN,
        },
    }


def _require_type(schema: dict[str, Any]) -> None:
    """A `type` constant is always on the wire: required, so that generated types can tell
    the members of a union apart by it."""
    kind = schema.get("properties", {}).get("type", {})
    if "const" in kind and "type" not in schema.get("required", []):
        schema["required"] = ["type", *schema.get("required", [])]


def _merge(defs: dict[str, Any], more: dict[str, Any]) -> None:
    """Add `more` to `defs`; two different schemas under one name are a bug (two models with
    one class name), not something to overwrite."""
    for name, schema in more.items():
        if name in defs and defs[name] != schema:
            raise ValueError(f"two different schemas are named {name!r}")
        defs[name] = schema


def render() -> str:
    return json.dumps(protocol_schema(), indent=2, sort_keys=True) + "\n"
