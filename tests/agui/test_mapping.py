"""The AG-UI events with no Pydantic AI script here, mapped one by one: state, steps,
reasoning, bad or unknown events (a warning, never a crash), a stream cut short."""

import json

import pytest
from switchboard_orchestrator.agui_events import MAX_WARNINGS, TurnMapper
from switchboard_orchestrator.backend import BackendError, Emit, TurnEnd

WHERE = "AG-UI agent http://agent.test/run"


def feed(mapper: TurnMapper, *events: dict) -> list:
    return [chunk for event in events for chunk in mapper.feed(json.dumps(event))]


def test_state_snapshot_and_delta_become_state_events() -> None:
    delta = [{"op": "replace", "path": "/city", "value": "Rome"}]
    delta += [
        {"op": "add", "path": "/note", "value": None},
        {"op": "move", "from": "/a", "path": "/b"},
    ]
    chunks = feed(
        TurnMapper(WHERE, frozenset()),
        {"type": "STATE_SNAPSHOT", "snapshot": {"city": "Oslo"}},
        {"type": "STATE_DELTA", "delta": delta},
    )
    assert chunks == [
        Emit("state", {"snapshot": {"city": "Oslo"}}),
        Emit("state", {"delta": delta}),
    ]


def test_steps_and_reasoning_become_thinking() -> None:
    chunks = feed(
        TurnMapper(WHERE, frozenset()),
        {"type": "STEP_STARTED", "stepName": "plan"},
        {"type": "STEP_FINISHED", "stepName": "plan"},
        {"type": "REASONING_START", "messageId": "r1"},
        {"type": "REASONING_MESSAGE_START", "messageId": "r1", "role": "reasoning"},
        {"type": "REASONING_MESSAGE_CONTENT", "messageId": "r1", "delta": "first "},
        {"type": "REASONING_MESSAGE_CONTENT", "messageId": "r1", "delta": "the map"},
        {"type": "REASONING_MESSAGE_END", "messageId": "r1"},
    )
    assert chunks == [
        Emit("thinking", {"status": "step", "message": "step plan"}),
        Emit("thinking", {"status": "reasoning", "message": "first the map"}),
    ]


def test_bad_and_unknown_events_are_warnings_a_few_per_turn() -> None:
    mapper = TurnMapper(WHERE, frozenset())
    chunks = mapper.feed("not json") + mapper.feed(json.dumps({"type": "HOLOGRAM"}))
    chunks += mapper.feed(json.dumps({"type": "TEXT_MESSAGE_CONTENT"}))  # no delta
    assert [c.data["code"] for c in chunks] == ["agent_bad_event"] * 3
    assert all(WHERE in c.data["message"] for c in chunks)
    assert "HOLOGRAM" in chunks[1].data["message"]
    more = [mapper.feed("{}") for _ in range(10)]
    assert sum(len(c) for c in more) == MAX_WARNINGS - 3
    assert "further bad events" in more[MAX_WARNINGS - 4][0].data["message"]


def test_a_result_for_an_unknown_call_is_a_warning() -> None:
    chunks = feed(
        TurnMapper(WHERE, frozenset()),
        {"type": "TOOL_CALL_RESULT", "messageId": "x", "toolCallId": "nope", "content": "1"},
    )
    assert chunks[0].data["code"] == "agent_bad_event"


def test_a_stream_that_ends_before_run_finished_fails_naming_the_agent() -> None:
    mapper = TurnMapper(WHERE, frozenset())
    feed(mapper, {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": "half"})
    with pytest.raises(BackendError, match="ended before RUN_FINISHED") as info:
        mapper.finish()
    assert WHERE in str(info.value) and info.value.code == "agent_error"


def test_run_finished_carries_offered_calls_and_usage() -> None:
    mapper = TurnMapper(WHERE, frozenset({"echo"}))
    feed(
        mapper,
        {"type": "TOOL_CALL_START", "toolCallId": "c1", "toolCallName": "echo"},
        {"type": "TOOL_CALL_ARGS", "toolCallId": "c1", "delta": '{"te'},
        {"type": "TOOL_CALL_ARGS", "toolCallId": "c1", "delta": 'xt": "hi"}'},
        {"type": "TOOL_CALL_END", "toolCallId": "c1"},
        {
            "type": "RUN_FINISHED",
            "threadId": "t",
            "runId": "r",
            "usage": [{"inputTokens": 3, "outputTokens": 2}, {"inputTokens": 1}],
        },
    )
    end = mapper.finish()
    assert isinstance(end, TurnEnd)
    assert [(c.name, c.arguments, c.call_id) for c in end.tool_calls] == [
        ("echo", '{"text": "hi"}', "c1")
    ]
    assert end.usage is not None and (end.usage.prompt_tokens, end.usage.completion_tokens) == (
        4,
        2,
    )


def test_an_interrupt_names_a_call_published_already_it_is_asked_once_more() -> None:
    mapper = TurnMapper(WHERE, frozenset())
    chunks = feed(
        mapper,
        {"type": "TOOL_CALL_START", "toolCallId": "d1", "toolCallName": "delete_file"},
        {"type": "TOOL_CALL_ARGS", "toolCallId": "d1", "delta": '{"path": "/x"}'},
        {"type": "TOOL_CALL_END", "toolCallId": "d1"},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": "May I?"},
        {
            "type": "RUN_FINISHED",
            "threadId": "t",
            "runId": "r",
            "outcome": {
                "type": "interrupt",
                "interrupts": [{"id": "i1", "reason": "tool_call", "toolCallId": "d1"}],
            },
        },
    )
    assert [c.event_type if isinstance(c, Emit) else c for c in chunks] == ["tool_call", "May I?"]
    end = mapper.finish()
    assert [(i.interrupt_id, i.call_id, i.tool_name, i.parameters) for i in end.interrupts] == [
        ("i1", "d1", "delete_file", {"path": "/x"})
    ]
    assert end.transcript == []  # the paused call joins the next input once, with its answer
