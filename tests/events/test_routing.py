"""Routing names: one place, prefixed, and safe against hostile ids."""

import ast
import re
import zlib
from pathlib import Path

import pytest
from switchboard_events import BrokerSettings, InvalidName, Names, check_name, shard_of
from switchboard_events.routing import stream_arguments


def test_names_carry_the_prefix() -> None:
    names = Names(prefix="t1.")
    assert names.stream(3) == "t1.ai.stream.3"
    assert names.streams(2) == ["t1.ai.stream.0", "t1.ai.stream.1"]
    assert names.gateway_queue("g1") == "t1.ai.gateway.g1"
    assert names.progress_queue == "t1.ai.run-progress"
    assert names.dead_letter_queue("session-store") == "t1.ai.dead-letters.session-store"
    with pytest.raises(ValueError):
        names.source_queue("session-store")  # ingest reads the streams: no such queue


def test_a_session_is_in_one_shard_by_crc32() -> None:
    assert shard_of("s1", 4) == zlib.crc32(b"s1") % 4
    assert {shard_of(f"s{i}", 4) for i in range(100)} == {0, 1, 2, 3}
    assert all(shard_of(f"s{i}", 1) == 0 for i in range(10))


def test_control_keys_and_their_bindings() -> None:
    """Every `ai.control` key is `<kind>.<id>`, heard by its kind's binding and read back."""
    keys = {
        Names.CANCEL: Names.cancel_key("r1"),
        Names.APPROVAL: Names.approval_key("c1"),
        Names.TOOL_CANCEL: Names.tool_cancel_key("c2"),
        Names.RELEASE: Names.release_key("s1", "web-1"),
    }
    assert list(keys.values()) == [
        "cancel.r1",
        "approval.c1",
        "tool-cancel.c2",
        "release.s1.web-1",
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
        "s1.web-1",
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
        Names.release_key(bad, "ok")
    with pytest.raises(InvalidName):
        Names.release_key("ok", bad)


def test_stream_arguments_follow_settings() -> None:
    settings = BrokerSettings(
        STREAM_MAX_AGE_S=60, STREAM_MAX_BYTES=5_000_000, STREAM_SEGMENT_BYTES=500_000
    )
    assert stream_arguments(settings) == {
        "x-queue-type": "stream",
        "x-queue-leader-locator": "balanced",  # leaders spread over the cluster's nodes
        "x-max-age": "60s",
        "x-max-length-bytes": 5_000_000,
        "x-stream-max-segment-size-bytes": 500_000,
    }


def test_stream_defaults_keep_an_hour_bounded() -> None:
    settings = BrokerSettings()
    assert (settings.stream_shards, settings.stream_max_age_s) == (4, 3600)
    assert (settings.stream_max_bytes, settings.stream_segment_bytes) == (1 << 30, 16 << 20)
    assert settings.coalesce_max_events == 256
