"""The pieces of approval without a stack: the directive, the decision message, the setting."""

import json

import pytest
from switchboard_orchestrator.approval import DENIED, Decision, parse_decision
from switchboard_orchestrator.directives import BadDirective, ToolCall, parse
from switchboard_orchestrator.settings import WorkerSettings


def test_approve_is_a_tool_call_that_waits() -> None:
    assert parse("/approve echo text=hi n=3") == ToolCall("echo", {"text": "hi", "n": 3}, True)
    assert parse("/tool echo") == ToolCall("echo", {}, False)
    with pytest.raises(BadDirective, match="usage: /approve"):
        parse("/approve")
    with pytest.raises(BadDirective, match="/approve: 'x' is not key=value"):
        parse("/approve echo x")


def test_a_decision_is_taken_only_for_its_run() -> None:
    body = {"call_id": "c", "session_id": "s", "run_id": "r1", "approve": False, "reason": ""}
    assert parse_decision(json.dumps(body).encode(), "r1") == Decision(
        False, DENIED, "denied by the user"
    )
    assert parse_decision(json.dumps(body).encode(), "r2") is None
    assert parse_decision(json.dumps({**body, "approve": "yes"}).encode(), "r1") is None
    assert parse_decision(b"not json", "r1") is None
    newer = {**body, "approve": True, "decided_at": "later"}  # a field added later is ignored
    assert parse_decision(json.dumps(newer).encode(), "r1") == Decision(True, reason="")


def test_required_tools_come_from_a_comma_separated_setting() -> None:
    settings = WorkerSettings(APPROVAL_REQUIRED_TOOLS=" send_email, ,delete_file")
    approvals = settings.approvals
    assert approvals.required("send_email") and approvals.required("delete_file")
    assert not approvals.required("echo") and approvals.timeout_s == 120
