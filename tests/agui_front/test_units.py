"""The AG-UI stream's pieces on their own: the SSE id (cursor) round trip and its refusals, and
the mapping of a run's events, including what a resumed or joined stream adds."""

import json

import pytest
from switchboard_gateway.agui.cursor import BadCursor, Cursor, parse
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


def test_a_cursor_reads_back_as_written() -> None:
    cursor = Cursor("tab-1", "R1", 12, 40, True, 3, 0b101, 2)
    assert str(cursor) == "tab-1.R1.12.40.1.3.5.2"
    assert parse(str(cursor)) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a.b",
        "tab 1.R.1.1.1.1.1.0",
        "t.R.1.1.2.0.0.0",
        "t.R.x.1.1.0.0.0",
        "t.R.1.1.1.0.zz.0",
        "t.R.1.1.1.0.0",
        "t" * 400,
    ],
)
def test_a_cursor_this_gateway_did_not_write_is_refused(text: str) -> None:
    with pytest.raises(BadCursor):
        parse(text)


def test_a_run_maps_onto_ag_ui_events_each_with_the_cursor_after_it() -> None:
    mapper = RunMapper("S1", Cursor("agui", "R1"))
    chunks = mapper.started()
    for ev in (
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
    ):
        chunks += mapper.map(ev)
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
    ids = [parse(i) for i, _ in decoded(chunks)]
    assert ids[-1] == Cursor("agui", "R1", 10, 8, False, 1, 1, 1)
    assert ids[3] == ids[4] == Cursor("agui", "R1", 2, 3, True)  # before the tool_call
    assert mapper.done


def test_a_failed_run_is_run_error_with_its_code_and_a_cancelled_one_finishes() -> None:
    failed = RunMapper("S1", Cursor("agui", "R1"))
    failed.map(event("error", 1, code="model_error", message="boom"))
    last = decoded(failed.map(event("run_end", 2, status="failed")))[-1][1]
    assert last == {"type": "RUN_ERROR", "message": "boom", "code": "model_error"}
    cancelled = RunMapper("S1", Cursor("agui", "R1"))
    cancelled.map(event("token", 1, token="x"))
    kinds = decoded(cancelled.map(event("run_end", 2, status="cancelled")))
    assert [d["type"] for _, d in kinds] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert kinds[-1][1]["outcome"] == {"type": "cancelled"}


def test_a_resume_reopens_the_message_and_sends_only_what_the_cursor_lacks() -> None:
    cursor = Cursor("agui", "R1", 5, 6, True, 1, 0)
    mapper = RunMapper("S1", cursor)
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
    assert mapper.cursor == Cursor("agui", "R1", 9, 9, True, 2, 1)
    assert mapper.map(event("token", 9, token="dup")) == []
    late = decoded(mapper.map(event("tool_result", 10, call_id="c2", tool_name="echo", result=2)))
    assert late[0][1]["toolCallId"] == "c2" and parse(late[0][0]).results == 0b11


def test_a_tokenless_reply_the_fill_could_not_read_yet_comes_from_the_buffer_once() -> None:
    """The catch-up counted the `response` (its seq) before storage had the reply, so the fill
    sent no text; the buffered `response` at or below the cursor's seq must still be sent, once
    (a POST stream of `/tool echo` ended with no text message, one run in three)."""
    mapper = RunMapper("S1", Cursor("agui", "R1"))
    mapper.started()
    assert mapper.text("", 4) == [] and mapper.reply("") == []  # what the fill had: nothing
    reply = decoded(mapper.map(event("response", 3, content="The echo tool returned 1.")))
    assert [d["type"] for _, d in reply] == [
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
    ]
    assert reply[1][1]["delta"] == "The echo tool returned 1."
    assert mapper.map(event("response", 3, content="The echo tool returned 1.")) == []
    assert mapper.map(event("token", 2, token="dup")) == []
