"""Folding run events into a run's catch-up state: in order, idempotent, storable."""

import json
from typing import Any

from switchboard_session.progress import fold, run_event
from switchboard_session.tables import RunRow


def _run_events(body: bytes) -> list[dict[str, Any]]:
    """The run events of a batch as ingest folds them (an unreadable line is ingest's poison,
    left out here)."""
    events = []
    for line in body.split(b"\n"):
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if (event := run_event(raw)) is not None:
            events.append(event)
    return events


def _row() -> RunRow:
    return RunRow(
        id="r1",
        progress_seq=0,
        progress_text="",
        progress_tool_calls=[],
        progress_notices=[],
        progress_agent_type=None,
    )


def _line(seq: int, kind: str, data: dict, run_id: str | None = "r1") -> bytes:  # type: ignore[type-arg]
    event = {"id": f"e{seq}", "type": kind, "data": data, "session_id": "s1"}
    return json.dumps(event | {"run_id": run_id, "seq": seq, "agent_type": "personal"}).encode()


def test_tokens_and_tools_fold_in_order_and_a_redelivery_changes_nothing() -> None:
    body = b"\n".join(
        [
            _line(1, "run_start", {"message_id": "m"}),
            _line(2, "token", {"token": "Hello "}),
            _line(3, "tool_call", {"call_id": "c1", "tool_name": "echo", "parameters": {"x": 1}}),
            _line(4, "tool_result", {"call_id": "c1", "tool_name": "echo", "result": {"x": 1}}),
            _line(5, "token", {"token": "world"}),
            _line(6, "typing", {}, run_id=None),
            b"not json",
        ]
    )
    row = _row()
    events = _run_events(body)
    fold(row, events)
    assert (row.progress_seq, row.progress_text) == (5, "Hello world")
    assert row.progress_tool_calls == [
        {"call_id": "c1", "tool_name": "echo", "parameters": {"x": 1}, "result": {"x": 1}}
    ]
    fold(row, events)  # redelivered after a crash: already folded
    assert (row.progress_seq, row.progress_text) == (5, "Hello world")
    assert len(row.progress_tool_calls) == 1


def test_what_postgres_cannot_store_is_replaced_not_retried() -> None:
    row = _row()
    fold(row, _run_events(_line(1, "token", {"token": "a\u0000b\ud800c"})))
    assert row.progress_text == "a\ufffdb?c"
    params = {"deep": {"n": float("nan")}, "k\u0000": "v"}
    call = {"call_id": "c", "tool_name": "t", "parameters": params}
    fold(row, _run_events(_line(2, "tool_call", call)))
    assert row.progress_tool_calls[0]["parameters"] == {"deep": {"n": None}, "k\ufffd": "v"}


def test_a_folded_run_end_ends_the_run_for_catch_up() -> None:
    """A device joining between the fold of `run_end` and the history writer's store must not be
    offered the run as in progress: its buffer, bound after `run_end` was routed, never ends it.
    The run's own `status` stays the history writer's (persist.py)."""
    row = _row()
    row.status = "running"
    fold(row, _run_events(_line(1, "run_start", {"message_id": "m"})))
    assert row.progress_end is None
    fold(row, _run_events(_line(2, "run_end", {"status": "completed"})))
    assert (row.progress_end, row.status) == ("completed", "running")
    fold(row, _run_events(_line(3, "run_end", {"status": "failed"})))  # a late duplicate end
    assert row.progress_end == "completed"


def test_switches_audio_errors_and_warnings_fold_into_notices() -> None:
    switch = {"from": "personal", "to": "travel", "reason": "asked"}
    audio = {"audio": "UklGRg==", "format": "wav", "chunk": 0, "final": False}
    body = b"\n".join(
        [
            _line(1, "agent_switch", switch),
            _line(2, "tts", audio),
            _line(3, "tts", audio | {"chunk": 1, "final": True}),
            _line(4, "warning", {"code": "w", "message": "careful"}),
            _line(5, "error", {"code": "boom", "message": "it broke"}),
        ]
    )
    row = _row()
    fold(row, _run_events(body))
    fold(row, _run_events(body))  # redelivered: nothing doubles
    assert row.progress_notices == [
        {"type": "agent_switch", "data": switch},
        {"type": "tts", "data": {"chunks": 2, "final": True}},
        {"type": "warning", "data": {"code": "w", "message": "careful"}},
        {"type": "error", "data": {"code": "boom", "message": "it broke"}},
    ]
