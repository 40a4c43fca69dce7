"""Frames, commands and the other messages: every model round-trips through JSON and fits its
`$defs` entry in docs/protocol.schema.json; readers ignore what a newer writer adds, writers
refuse it; the wire text is what the services always sent."""

import json
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError
from switchboard_protocol import (
    CLOSE_DESCRIPTIONS,
    FATAL_CLOSES,
    NAME_PATTERN,
    CloseCode,
    InvalidName,
    RunRequest,
    ToolDecisionCommand,
    check_name,
    dumps,
    error_frame,
    is_name,
    make_event,
)
from switchboard_protocol import frames as f
from switchboard_protocol.commands import (
    CatchUpReply,
    CatchUpRequest,
    HistoryItem,
    LeaseRenewal,
    LeaseReply,
    Release,
    RunCancel,
    ToolCallRequest,
    ToolCancel,
    ToolListRequest,
    ToolReply,
)
from switchboard_protocol.errors import ErrorBody, ErrorEnvelope
from switchboard_protocol.events import EVENT_CLASSES
from switchboard_protocol.runs import ActiveRun, Run, TextPiece
from switchboard_protocol.schema import MODELS, protocol_schema

from .test_events import SAMPLE_DATA

T = "2026-11-29T00:00:00Z"
ACTIVE = {
    "id": "r1",
    "status": "running",
    "message_id": "m1",
    "created_at": T,
    "run_id": "r1",
    "seq": 3,
    "agent_type": "personal",
    "text": "t1 t2 ",
    "tool_calls": [{"call_id": "c1", "tool_name": "echo", "parameters": {}}],
}
SAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    f.AuthFrame: {"token": "jwt", "cursor": "2.41.0.ABCDEFGH"},
    f.AckFrame: {"id": "01J"},
    f.MessageFrame: {"content": "hi", "metadata": {"k": 1}, "on_busy": "enqueue"},
    f.CancelFrame: {},
    f.ToolDecisionFrame: {"call_id": "c1", "approve": False, "reason": "no"},
    f.TypingFrame: {},
    f.RefreshFrame: {"token": "jwt"},
    f.PingFrame: {},
    f.HelloFrame: {
        "session_id": "s1",
        "client_id": "web-1",
        "resumed": False,
        "recovered": False,
        "heartbeat_s": 25,
        "ack_window": 256,
        "active_run": ACTIVE,
    },
    f.PongFrame: {},
    f.ErrorFrame: {"code": "bad", "message": "m", "data": {"code": "bad", "message": "m"}},
    f.MessageAcceptedFrame: {"message_id": "m1", "run_id": "r1"},
    f.ToolDecisionAcceptedFrame: {"call_id": "c1", "approve": True, "status": "approved"},
    RunRequest: {
        "run_id": "r1",
        "session_id": "s1",
        "message_id": "m1",
        "content": "hi",
        "history": [{"role": "user", "content": "before"}],
        "history_dropped": 2,
    },
    ToolCallRequest: {"call_id": "c1", "tool_name": "echo", "parameters": {"x": 1}, "user_id": "u"},
    ToolListRequest: {"call_id": "c1"},
    ToolReply: {"result": {"ok": True}},
    ToolCancel: {"call_id": "c1"},
    RunCancel: {"run_id": "r1", "session_id": "s1"},
    ToolDecisionCommand: {
        "call_id": "c1",
        "session_id": "s1",
        "run_id": "r1",
        "approve": True,
        "reason": None,
        "user_id": "alice",
        "client_id": "web-1",
    },
    Release: {"session_id": "s1", "client_id": "web-1", "requester": "g2"},
    CatchUpRequest: {"session_id": "s1"},
    CatchUpReply: {"active_run": ACTIVE, "position": 41},
    LeaseRenewal: {"worker": "host-1", "runs": ["r1", "r2"]},
    LeaseReply: {"lost": ["r2"]},
    ErrorEnvelope: {"error": {"code": "validation_error", "message": "m", "fields": []}},
    Run: {k: ACTIVE[k] for k in ("id", "status", "message_id", "created_at")},
    ActiveRun: ACTIVE,
    TextPiece: {"offset": 0, "text": "Hel", "total_chars": 5, "next_offset": 3},
}
EVENT_SAMPLES = {
    cls: {
        "type": cls.model_fields["type"].default,
        "data": SAMPLE_DATA[cls.model_fields["type"].default],
        "session_id": "s1",
        "id": "01J",
        "timestamp": T,
    }
    for cls in EVENT_CLASSES
}
ALL = {**SAMPLES, **EVENT_SAMPLES}
SCHEMA = protocol_schema()


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{name}"})


def test_the_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_model_has_a_sample() -> None:
    assert set(MODELS) | set(f.CLIENT_FRAME_CLASSES) <= set(ALL)


@pytest.mark.parametrize("model", list(ALL), ids=lambda m: m.__name__)
def test_round_trip_and_schema(model: type[BaseModel]) -> None:
    message = model.model_validate(ALL[model])
    wire = dumps(message)
    assert model.read_json(wire) == message  # type: ignore[attr-defined]
    _validator(model.__name__).validate(json.loads(wire))


@pytest.mark.parametrize("model", list(ALL), ids=lambda m: m.__name__)
def test_readers_ignore_unknown_fields_writers_refuse_them(model: type[BaseModel]) -> None:
    newer = {**ALL[model], "added_later": 1}
    assert model.read(newer) == model.model_validate(ALL[model])  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="added_later"):
        model.model_validate(newer)
    with pytest.raises(ValidationError, match="added_later"):
        model(**newer)


def test_unions_are_discriminated_on_type() -> None:
    for union, members in (
        ("Event", EVENT_CLASSES),
        ("ClientFrame", f.CLIENT_FRAME_CLASSES),
        ("ServerFrame", f.SERVER_FRAME_CLASSES),
    ):
        mapping = SCHEMA["$defs"][union]["discriminator"]
        assert mapping["propertyName"] == "type"
        assert sorted(mapping["mapping"].values()) == sorted(
            f"#/$defs/{m.__name__}" for m in members
        )
    for name, schema in SCHEMA["$defs"].items():
        if "const" in schema.get("properties", {}).get("type", {}):
            assert "type" in schema["required"], name


def test_client_frame_types_match_the_gateways_handlers() -> None:
    from switchboard_gateway.receiver import HANDLERS

    assert set(HANDLERS) == set(f.CLIENT_FRAME_TYPES)


def test_wire_text_is_what_the_services_always_sent() -> None:
    """The gateway and the session service wrote these with json.dumps; clients and workers
    outside this repo may compare text, so the models keep it byte for byte."""
    assert dumps(error_frame("bad_frame", "m")) == json.dumps(
        {
            "type": "error",
            "code": "bad_frame",
            "message": "m",
            "data": {"code": "bad_frame", "message": "m"},
        }
    )
    hello = f.HelloFrame(
        session_id="s", client_id="c", resumed=True, recovered=True, heartbeat_s=25, ack_window=9
    )
    assert dumps(hello) == json.dumps(
        {"type": "connected", "session_id": "s", "client_id": "c", "resumed": True,
         "recovered": True, "heartbeat_s": 25, "ack_window": 9}
    )  # fmt: skip
    assert dumps(f.PongFrame()) == '{"type": "pong"}'
    assert dumps(RunCancel(run_id="r", session_id="s")) == '{"run_id": "r", "session_id": "s"}'
    assert dumps(RunRequest(run_id="r", session_id="s")).startswith('{"run_id": "r", "session_id"')
    item = HistoryItem(role="user", content="x")
    assert dumps(item) == '{"role": "user", "content": "x"}'
    assert dumps(ErrorEnvelope(error=ErrorBody(code="c", message="m"))) == (
        '{"error": {"code": "c", "message": "m"}}'
    )


def test_tool_decisions_take_only_booleans() -> None:
    with pytest.raises(ValidationError):
        f.ToolDecisionFrame.read({"call_id": "c", "approve": "true"})
    with pytest.raises(ValidationError):
        ToolDecisionCommand.read({"call_id": "c", "session_id": "s", "run_id": "r", "approve": 1})


def test_close_codes_are_unique_described_and_fatal_ones_known() -> None:
    codes = [int(code) for code in CloseCode]
    assert len(codes) == len(set(codes))
    assert set(CLOSE_DESCRIPTIONS) == set(CloseCode)
    assert FATAL_CLOSES <= set(codes)
    assert CloseCode.UNAUTHENTICATED not in FATAL_CLOSES  # a new token fixes it
    schema = SCHEMA["$defs"]["CloseCode"]
    assert [item["const"] for item in schema["oneOf"]] == codes
    assert schema["x-fatal"] == sorted(FATAL_CLOSES)  # the TypeScript SDK's FATAL_CLOSES


@pytest.mark.parametrize("value", ["a", "A-b_9", "x" * 64])
def test_names_that_follow_the_rule(value: str) -> None:
    assert is_name(value) and check_name(value) == value
    _validator("Name").validate(value)


@pytest.mark.parametrize("value", ["", "a.b", "a*", "a/b", "x" * 65, "é"])
def test_names_that_break_the_rule(value: str) -> None:
    assert not is_name(value)
    with pytest.raises(InvalidName, match="must match"):
        check_name(value, "session_id")
    with pytest.raises(ValidationError):
        RunRequest(run_id=value, session_id="s")
    assert SCHEMA["$defs"]["Name"]["pattern"] == NAME_PATTERN


def test_events_on_the_wire_carry_their_optional_fields_only_when_set() -> None:
    call = make_event("tool_call", {"call_id": "c", "tool_name": "t"}, session_id="s")
    assert set(json.loads(dumps(call))["data"]) == {"call_id", "tool_name", "parameters"}
