"""Routing names: one place, prefixed, and safe against hostile ids."""

import ast
import re
from pathlib import Path

import pytest
from switchboard_events import BrokerSettings, InvalidName, Names, check_name
from switchboard_events.routing import device_queue_arguments


def test_names_carry_the_prefix() -> None:
    names = Names(prefix="t1.")
    assert names.events_exchange == "t1.ai.events"
    assert names.device_queue("s1", "web-1") == "t1.ai.session.s1.web-1"
    assert names.routing_key("s1", "token") == "session.s1.token"
    assert names.session_binding("s1") == "session.s1.#"
    assert names.gateway_queue("g1") == "t1.ai.gateway.g1"


def test_control_keys_and_their_bindings() -> None:
    """Every `ai.control` key is `<kind>.<id>`, heard by its kind's binding and read back."""
    keys = {
        Names.CANCEL: Names.cancel_key("r1"),
        Names.APPROVAL: Names.approval_key("c1"),
        Names.TOOL_CANCEL: Names.tool_cancel_key("c2"),
        Names.RELEASE: Names.control_key("t1.ai.session.s1.web-1"),
    }
    assert list(keys.values()) == [
        "cancel.r1",
        "approval.c1",
        "tool-cancel.c2",
        "release.t1.ai.session.s1.web-1",
    ]
    assert [Names.binding(kind) for kind in keys] == [
        "cancel.*",
        "approval.*",
        "tool-cancel.*",
        "release.#",
    ]
    assert [Names.key_id(kind, key) for kind, key in keys.items()] == [
        "r1",
        "c1",
        "c2",
        "t1.ai.session.s1.web-1",
    ]
    assert Names.key_id(Names.CANCEL, "approval.c1") is None
    assert Names.key_id(Names.TOOL_CANCEL, "cancel.r1") is None
    assert Names.key_id(Names.CANCEL, None) is None


SERVICES = Path(__file__).parents[2] / "services"
ROUTE = re.compile(r"^(ai\.|cancel\.|approval\.|tool-cancel\.|release\.|session\.($|[*#]))")
"""The start of a name or key (`session.` alone: an f-string's head; `session.create` is an
audit action)."""


def _strings(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of `tree` that are not docstrings."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def test_no_routing_key_literal_in_services() -> None:
    """Exchange, queue and routing-key names are written once, in switchboard_events.routing."""
    found = [
        f"{path.relative_to(SERVICES)}:{node.lineno}: {node.value!r}"
        for path in sorted(SERVICES.rglob("*.py"))
        for node in _strings(ast.parse(path.read_text()))
        if ROUTE.match(node.value)
    ]
    assert found == []


@pytest.mark.parametrize(
    "bad", ["", "a.b", "#", "*", "a/b", "../x", "x" * 65, "a b", "é", "s1.#", "a\nb"]
)
def test_hostile_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        check_name(bad)
    with pytest.raises(InvalidName):
        Names().device_queue(bad, "ok")
    with pytest.raises(InvalidName):
        Names().device_queue("ok", bad)


def test_device_queue_arguments_follow_settings() -> None:
    settings = BrokerSettings(
        DEVICE_BUFFER_TTL_S=60, DEVICE_BUFFER_MAX_EVENTS=5, QUEUE_TYPE="quorum"
    )
    assert device_queue_arguments(settings) == {
        "x-expires": 60_000,
        "x-max-length": 5,
        "x-overflow": "drop-head",
        "x-queue-type": "quorum",
        "x-queue-leader-locator": "balanced",  # leaders spread over the cluster's nodes
        "x-single-active-consumer": True,  # quorum queues ignore exclusive consumers
    }


def test_classic_device_queues_keep_their_arguments() -> None:
    settings = BrokerSettings(DEVICE_BUFFER_TTL_S=60, DEVICE_BUFFER_MAX_EVENTS=5)
    assert device_queue_arguments(settings) == {
        "x-expires": 60_000,
        "x-max-length": 5,
        "x-overflow": "drop-head",
        "x-queue-type": "classic",
    }
