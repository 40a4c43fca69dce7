"""The AG-UI stream's pieces on their own: the SSE id (stream position and run state) round trip
and its refusals, and the mapping of a run's events, including what a resumed or joined stream
adds and the position each SSE event carries."""

import json

import pytest
from switchboard_gateway.agui.cursor import BadEventId, EventId, RunState, parse_id
from switchboard_gateway.agui.mapping import RunMapper


def decoded(chunks: list[str]) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    """(id, AG-UI event) of each SSE event."""
    out = []
    for chunk in chunks:
        id_line, data_line = chunk.strip().split("\n")
        assert id_line.startswith("id: ") and data_line.startswith("data: ")
        out.append((id_line[4:], json.loads(data_line[6:])))
    return out


def event(kind: str, seq: int, run: str = "R1", **data: object) -> dict:  # type: ignore[type-arg]
    return {"type": kind, "run_id": run, "seq": seq, "data": data}


def state_of(event_id: str) -> RunState:
    return parse_id(event_id).state


def test_an_id_reads_back_as_written() -> None:
    state = RunState("tab-1", "R1", 12, 40, True, 3, 0b101, 2)
    assert str(state) == "tab-1.R1.12.40.1.3.5.2.0"
    written = EventId("2.1077.3.Ab12Cd34", state)
    assert str(written) == "2.1077.3.Ab12Cd34~tab-1.R1.12.40.1.3.5.2.0"
    assert parse_id(str(written)) == written
    before_any = EventId(None, state)
    assert str(before_any) == "-~tab-1.R1.12.40.1.3.5.2.0"
    assert parse_id(str(before_any)) == before_any


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a.b",
        "t.R.1.1.1.0.0.0",  # a v1 id: no position
        "-~t.R.1.1.1.0.0.0",  # a v1 run state
        "-~tab 1.R.1.1.1.1.1.0.0",
        "-~t.R.1.1.2.0.0.0.0",
        "-~t.R.1.1.1.0.0.0.2",
        "-~t.R.x.1.1.0.0.0.0",
        "-~t.R.1.1.1.0.zz.0.0",
        "-~t.R\n.1.1.1.0.0.0.0",
        "1.2.3~t.R.1.1.1.0.0.0.0",
        "1.2.3.tag!~t.R.1.1.1.0.0.0.0",
        "x~t.R.1.1.1.0.0.0.0",
        "1.2.3.tag~-~t.R.1.1.1.0.0.0.0",
        "-~" + "t" * 400,
    ],
)
def test_an_id_this_gateway_did_not_write_is_refused(text: str) -> None:
    with pytest.raises(BadEventId):
        parse_id(text)


def at(offset: int) -> str:
    """A stream position (shard 0, one event per batch)."""
    return f"0.{offset}.0.tag{offset}"


def test_a_run_maps_onto_ag_ui_events_each_with_the_position_and_state_after_it() -> None:
    mapper = RunMapper("S1", RunState("agui", "R1"))
    chunks = mapper.started()
    for offset, ev in enumerate(
        (
            event("run_start", 1),
            event("token", 2, token="Hi "),
            event("tool_call", 3, call_id="c1", tool_name="echo", parameters={"a": 1}),
            event("tool_result", 4, call_id="c1", tool_name="echo", result={"a": 1}),
            event("state", 5, snapshot={"n": 1}),
            event("state", 6, delta=[{"op": "replace", "path": "/n", "value": 2}]),
            event("agent_switch", 7, **{"from": "a", "to": "b", "reason": ""}),
            event("token", 8, token="there"),
            event("response", 9, content="Hi there", message_id="m"),
            event("token", 3, token="stale"),
            event("token", 9, run="R0", token="other run"),
            event("run_end", 10, status="completed"),
        )
    ):
        chunks += mapper.map(ev, at(offset))
    kinds = [data["type"] for _, data in decoded(chunks)]
    assert kinds == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "STATE_SNAPSHOT",
        "STATE_DELTA",
        "CUSTOM",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    ids = [parse_id(i) for i, _ in decoded(chunks)]
    assert ids[0] == EventId(None, RunState("agui", "R1"))  # before any session event
    assert ids[-1] == EventId(at(11), RunState("agui", "R1", 10, 8, False, 1, 1, 1, done=True))
    before_the_tool_call = EventId(at(1), RunState("agui", "R1", 2, 3, True))
    assert ids[3] == ids[4] == before_the_tool_call  # resuming there sends the call whole again
    assert ids[5] == EventId(at(2), RunState("agui", "R1", 3, 3, True, 1))
    assert mapper.done
    assert mapper.map(event("session_end", 11), at(12)) == []  # the run is over


def test_a_failed_run_is_run_error_with_its_code_and_a_cancelled_one_finishes() -> None:
    failed = RunMapper("S1", RunState("agui", "R1"))
    failed.map(event("error", 1, code="model_error", message="boom"))
    last = decoded(failed.map(event("run_end", 2, status="failed")))[-1][1]
    assert last == {"type": "RUN_ERROR", "message": "boom", "code": "model_error"}
    cancelled = RunMapper("S1", RunState("agui", "R1"))
    cancelled.map(event("token", 1, token="x"))
    kinds = decoded(cancelled.map(event("run_end", 2, status="cancelled")))
    assert [d["type"] for _, d in kinds] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert kinds[-1][1]["outcome"] == {"type": "cancelled"}


def test_a_resume_from_the_catch_up_reopens_the_message_and_sends_only_what_it_lacks() -> None:
    mapper = RunMapper("S1", RunState("agui", "R1", 5, 6, True, 1, 0))
    chunks = mapper.started()
    calls = [
        {"call_id": "c1", "tool_name": "echo", "parameters": {}, "result": 1},
        {"call_id": "c2", "tool_name": "echo", "parameters": {}},
    ]
    chunks += mapper.tool_calls(calls)
    chunks += mapper.text("t1 t2 t3 "[6:], 9)
    kinds = [(d["type"], d.get("toolCallId")) for _, d in decoded(chunks)]
    assert kinds == [
        ("RUN_STARTED", None),
        ("TEXT_MESSAGE_START", None),
        ("TOOL_CALL_RESULT", "c1"),
        ("TOOL_CALL_START", "c2"),
        ("TOOL_CALL_ARGS", "c2"),
        ("TOOL_CALL_END", "c2"),
        ("TEXT_MESSAGE_CONTENT", None),
    ]
    assert mapper.state == RunState("agui", "R1", 9, 9, True, 2, 1)
    assert all(parse_id(i).position is None for i, _ in decoded(chunks))
    assert mapper.map(event("token", 9, token="dup"), at(40)) == []
    result = event("tool_result", 10, call_id="c2", tool_name="echo", result=2)
    late = decoded(mapper.map(result, at(41)))
    assert late[0][1]["toolCallId"] == "c2" and state_of(late[0][0]).results == 0b11
    assert parse_id(late[0][0]).position == at(41)


def test_a_recovered_resume_goes_on_from_the_position_and_state_of_its_id() -> None:
    """What a stream resumed at a recovered position sends: `RUN_STARTED` and the open
    message again with the id it resumed from, then only the events after it."""
    last = parse_id(f"{at(7)}~agui.R1.6.9.1.0.0.0.0")
    mapper = RunMapper("S1", last.state, last.position)
    opening = decoded(mapper.started())
    assert [d["type"] for _, d in opening] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert {i for i, _ in opening} == {str(last)}
    rest = decoded(mapper.map(event("token", 7, token="t4 "), at(8)))
    rest += decoded(mapper.map(event("response", 8, content="t1 t2 t3 t4 "), at(9)))
    rest += decoded(mapper.map(event("run_end", 9, status="completed"), at(10)))
    assert [d["type"] for _, d in rest] == [
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert rest[0][0] == f"{at(8)}~agui.R1.7.12.1.0.0.0.0"
    assert rest[-1][0] == f"{at(10)}~agui.R1.9.12.0.0.0.0.1"  # done


def test_a_reply_read_whole_from_storage_is_not_sent_again_when_it_comes_live() -> None:
    """A resume whose catch-up state predates a token-less reply that storage already has
    sends it from storage; the `response` that follows in the stream is then not sent again."""
    mapper = RunMapper("S1", RunState("agui", "R1", 2))
    reply = decoded(mapper.reply("The echo tool returned 1."))
    assert [d["type"] for _, d in reply] == [
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
    ]
    assert mapper.map(event("response", 3, content="The echo tool returned 1."), at(5)) == []
    end = decoded(mapper.map(event("run_end", 4, status="completed"), at(6)))
    assert [d["type"] for _, d in end] == ["RUN_FINISHED"]
