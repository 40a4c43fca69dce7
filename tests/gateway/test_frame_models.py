"""Client frames are read through switchboard_protocol's models, not re-checked field by field."""

import ast
from pathlib import Path

import pytest
from switchboard_gateway import receiver
from switchboard_protocol.frames import CLIENT_FRAME_CLASSES

RECEIVER = Path(receiver.__file__)
FIELDS = {name for cls in CLIENT_FRAME_CLASSES for name in cls.model_fields if name != "type"}
"""Every client frame field but `type` (the ASGI message has a `type` too; the adapter
discriminates frames on it)."""


def _field_reads(tree: ast.AST) -> list[str]:
    """`x.get("content")`, `x["content"]` and `"content" in x` for any client frame field."""
    found = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get" and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript):
            key = node.slice
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            key = node.left
        if isinstance(key, ast.Constant) and key.value in FIELDS:
            found.append(f"{RECEIVER.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_receiver_reads_frames_through_the_protocol_models() -> None:
    tree = ast.parse(RECEIVER.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("switchboard_protocol")
        for alias in node.names
    }
    assert "CLIENT_FRAME_ADAPTER" in imported
    assert _field_reads(tree) == []
    assert [
        f"{RECEIVER.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "validate_python"
    ] != [], "one validate per frame, through the adapter"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{nope", "bad_json"),
        ("[1,2]", "bad_frame"),
        ('{"type": 7}', "bad_frame"),
        ("{}", "bad_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "ack"}', "missing_field"),
        ('{"type": "ack", "id": 3}', "missing_field"),
        ('{"type": "message"}', "missing_field"),
        ('{"type": "message", "content": 5}', "missing_field"),
        ('{"type": "message", "content": "x", "metadata": 3}', "invalid_field"),
        ('{"type": "message", "content": "x", "on_busy": "never"}', "invalid_field"),
        ('{"type": "message", "content": "a\\u0000"}', "invalid_field"),
        ('{"type": "refresh"}', "missing_field"),
        ('{"type": "refresh", "token": ""}', "missing_field"),
        ('{"type": "auth", "token": ""}', "missing_field"),
        ('{"type": "tool_decision", "call_id": "x", "approve": "yes"}', "missing_field"),
        (
            '{"type": "tool_decision", "call_id": "x", "approve": true, "reason": 3}',
            "invalid_field",
        ),
    ],
)
def test_refused_frames_get_the_documented_codes(text: str, code: str) -> None:
    refused = receiver._parse(text)
    assert isinstance(refused, receiver.Refused) and refused.code == code, text
    assert refused.message


def test_fields_this_version_does_not_know_are_ignored() -> None:
    frame = receiver._parse('{"type": "message", "content": "hi", "added_later": 1}')
    assert not isinstance(frame, receiver.Refused) and frame is not None
    assert frame.model_dump(exclude={"type"}) == {"content": "hi", "metadata": {}}
