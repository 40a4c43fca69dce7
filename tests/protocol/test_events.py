"""Event models: every type round-trips; bad events are rejected naming the field; readers
take what a newer publisher adds, writers refuse it."""

import json

import pytest
from pydantic import ValidationError
from switchboard_events import encode, event_id, split_batch
from switchboard_events.codec import event_head
from switchboard_protocol import (
    EVENT_CLASSES,
    EVENT_TYPES,
    PERSISTED_TYPES,
    PROGRESS_TYPES,
    UnknownEvent,
    make_event,
    parse_event,
)
from switchboard_protocol.events import TokenData, TokenEvent

SAMPLE_DATA: dict[str, dict] = {
    "token": {"token": "Hello"},
    "response": {"content": "Hello there", "message_id": "m1"},
    "tool_call": {"call_id": "c1", "tool_name": "get_time", "parameters": {"tz": "UTC"}},
    "tool_result": {"call_id": "c1", "tool_name": "get_time", "result": {"time": "12:00"}},
    "tts": {"audio": "UklGRg==", "format": "wav", "chunk": 0, "final": True},
    "stt": {"text": "hello", "final": True},
    "session_start": {"mode": "voice", "client_id": "web-1"},
    "session_end": {"reason": "deleted"},
    "agent_switch": {"from": "personal", "to": "travel", "reason": "asked"},
    "state": {"snapshot": {"city": "Oslo", "steps": []}},
    "thinking": {"status": "thinking", "message": "Thinking..."},
    "typing": {"status": "typing", "message": ""},
    "waiting": {"status": "waiting", "message": "Waiting for tool"},
    "error": {"code": "tool_failed", "message": "boom"},
    "warning": {"code": "slow", "message": "slow tool"},
    "message": {"content": "hi", "message_id": "m0", "client_id": "web-1"},
    "run_start": {"message_id": "m0"},
    "run_end": {"status": "completed"},
}


def test_every_protocol_type_is_modelled() -> None:
    assert set(EVENT_TYPES) == set(SAMPLE_DATA)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_round_trip(event_type: str) -> None:
    event = make_event(event_type, SAMPLE_DATA[event_type], session_id="s1", run_id="r1", seq=3)
    raw = encode(event)
    again = parse_event(raw)
    assert again == event
    assert event_id(raw) == event.id
    assert event_id(raw.decode()) == event.id
    wire = json.loads(raw)
    assert next(iter(wire)) == "id"
    assert set(wire) == {
        "id",
        "type",
        "data",
        "session_id",
        "agent_type",
        "timestamp",
        "run_id",
        "seq",
        "metadata",
    }


def test_agent_switch_uses_from_on_the_wire() -> None:
    event = make_event("agent_switch", SAMPLE_DATA["agent_switch"], session_id="s1")
    assert json.loads(encode(event))["data"]["from"] == "personal"


def test_ids_are_unique_and_sortable() -> None:
    ids = [make_event("token", {"token": "x"}, session_id="s").id for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 26 for i in ids)


def _error_fields(raw: str) -> list[tuple]:
    with pytest.raises(ValidationError) as info:
        parse_event(raw)
    return [err["loc"] for err in info.value.errors()]


def test_unknown_type_is_read_as_unknown_event() -> None:
    raw = json.dumps(
        {"id": "x", "type": "hologram", "data": {"shape": "cube"}, "session_id": "s", "seq": 4}
    )
    event = parse_event(raw)
    assert isinstance(event, UnknownEvent)
    assert (event.id, event.type, event.data, event.seq) == ("x", "hologram", {"shape": "cube"}, 4)


def test_missing_type_is_rejected() -> None:
    with pytest.raises(ValidationError, match="type"):
        parse_event(json.dumps({"id": "x", "data": {}, "session_id": "s"}))


def test_missing_data_field_names_the_field() -> None:
    raw = json.dumps({"id": "x", "type": "token", "data": {}, "session_id": "s"})
    assert ("token", "data", "token") in _error_fields(raw)


def test_reader_ignores_unknown_fields_everywhere() -> None:
    raw = json.dumps(
        {"type": "token", "data": {"token": "a", "new": 1}, "session_id": "s", "later": True}
    )
    event = parse_event(raw)
    assert isinstance(event, TokenEvent) and event.data == TokenData(token="a")
    assert "later" not in json.loads(encode(event)) and "new" not in event.data.model_dump()


def test_writers_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make_event("token", {"token": "a", "extra": 1}, session_id="s")
    with pytest.raises(ValidationError, match="later"):
        make_event("token", {"token": "a"}, session_id="s", later=True)
    with pytest.raises(ValidationError, match="extra"):
        TokenData(token="a", extra=1)  # type: ignore[call-arg]


def test_routing_lists_derive_from_the_event_classes() -> None:
    """Bindings (topology) use these: a new event class says where it goes, nothing else."""
    assert set(PERSISTED_TYPES) == {
        c.model_fields["type"].default for c in EVENT_CLASSES if c.stored
    }
    assert "token" not in PERSISTED_TYPES and "token" in PROGRESS_TYPES
    assert set(PERSISTED_TYPES) | set(PROGRESS_TYPES) <= set(EVENT_TYPES)


def test_seq_must_be_positive() -> None:
    raw = json.dumps({"type": "token", "data": {"token": "a"}, "session_id": "s", "seq": 0})
    assert ("token", "seq") in _error_fields(raw)


def test_run_end_status_is_checked() -> None:
    raw = json.dumps({"type": "run_end", "data": {"status": "maybe"}, "session_id": "s"})
    assert ("run_end", "data", "status") in _error_fields(raw)


def test_make_event_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("nope", {}, session_id="s")


def test_split_batch_without_parsing() -> None:
    events = [make_event("token", {"token": f"a\nb{i}"}, session_id="s") for i in range(3)]
    body = b"\n".join(encode(e) for e in events)
    assert [parse_event(line) for line in split_batch(body)] == events


def test_event_head_reads_routing_fields_only() -> None:
    event = make_event("token", {"token": "t"}, session_id="s1", run_id="r1", seq=1)
    raw = json.loads(encode(event)) | {"later_field": 1}
    assert event_head(json.dumps(raw)) == (event.id, "s1", "token", "r1")
    assert event_head('{"id": "e", "session_id": "s", "type": "t"}').run_id is None
    for bad in ('{"id": "e", "type": "t"}', '{"id": 1, "session_id": "s", "type": "t"}', "[1]"):
        with pytest.raises(ValueError):
            event_head(bad)


def test_event_id_of_foreign_encodings() -> None:
    assert event_id('{"type": "token", "id": "abc"}') == "abc"
    for bad in ('{"type": "token"}', "[1, 2]", "not json"):
        with pytest.raises(ValueError):
            event_id(bad)


def test_state_is_a_snapshot_or_a_delta_never_both_nor_neither() -> None:
    delta = [{"op": "replace", "path": "/city", "value": "Rome"}]
    event = make_event("state", {"delta": delta}, session_id="s", run_id="r", seq=2)
    assert json.loads(encode(event))["data"] == {"delta": delta}
    snapshot = make_event("state", {"snapshot": {"a": 1}}, session_id="s")
    assert json.loads(encode(snapshot))["data"] == {"snapshot": {"a": 1}}
    for bad in ({}, {"snapshot": {"a": 1}, "delta": delta}, {"delta": "not a list"}):
        with pytest.raises(ValidationError):
            make_event("state", bad, session_id="s")
    assert "state" in PROGRESS_TYPES and "state" not in PERSISTED_TYPES
