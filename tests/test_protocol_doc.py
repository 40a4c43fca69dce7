"""docs/protocol.md says what the code does: the REST table each call's success status and
the body of every answer it spells out as `{"field", ...}` (every 202 does; the gateway's own
calls, health and metrics, are not the session service's); the frame error codes every code
the gateway writes and the cancel frame's refusal; the event table every field of each
event's data, and which ones are left out when empty."""

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from switchboard_gateway.openapi import PROXIED
from switchboard_protocol.events import EVENT_CLASSES, EVENT_TYPES
from switchboard_session.app import create_app
from switchboard_session.settings import SessionSettings

PROTOCOL = Path(__file__).parents[1] / "docs" / "protocol.md"
CALL = re.compile(r"`(?P<method>[A-Z]+) (?P<path>/[^` ?]*)")
CELL = re.compile(r"(?<!\\)\|")
"""A cell border: a `|` not escaped as `\\|`."""


def rest_rows() -> list[tuple[str, str, str]]:
    """(method, path with `{session_id}`, answer) of each call of the REST table."""
    section = PROTOCOL.read_text().split("\n## REST\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            _, call, answer, _ = CELL.split(line)
            found = CALL.match(call.strip())
            assert found, f"not a call: {call}"
            path = found["path"].replace("{id}", "{session_id}")
            rows.append((found["method"].lower(), path, answer.strip()))
    return rows


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    settings = SessionSettings(SWITCHBOARD_ENV="dev")
    return create_app(settings).openapi()


def success(openapi: dict[str, Any], method: str, path: str) -> tuple[str, list[str]]:
    """The operation's success status and the fields of its JSON answer (none without one)."""
    responses = openapi["paths"][path][method]["responses"]
    status = next(code for code in responses if code.startswith("2"))
    schema = responses[status].get("content", {}).get("application/json", {}).get("schema", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    model = openapi["components"]["schemas"].get(name, {})
    return status, list(model.get("properties", {}))


def test_the_table_has_the_cancel_call() -> None:
    assert ("post", "/ai/sessions/{session_id}/cancel") in {(m, p) for m, p, _ in rest_rows()}


@pytest.mark.parametrize(
    ("method", "path", "answer"), [row for row in rest_rows() if row[1].startswith(PROXIED)]
)
def test_a_row_says_what_the_service_answers(
    openapi: dict[str, Any], method: str, path: str, answer: str
) -> None:
    status, fields = success(openapi, method, path)
    assert answer.startswith(status), f"{method} {path}: answers {status}"
    spelled_out = answer[len(status) :].lstrip().startswith("`{")
    if status == "202" or spelled_out:
        missing = [f for f in fields if f'"{f}"' not in answer.split(";")[0]]
        assert spelled_out and not missing, f"{method} {path}: {status} body lacks {missing}"


# -- WebSocket: the frame error codes and the event table ----------------------------------
GATEWAY = Path(__file__).parents[1] / "services" / "gateway" / "src" / "switchboard_gateway"
DISPATCH = Path(__file__).parents[1] / "services" / "session" / "src" / "switchboard_session"
CODE = re.compile(r"`([a-z_]+)`")


def section(start: str, end: str) -> str:
    return PROTOCOL.read_text().split(start, 1)[1].split(end, 1)[0]


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def gateway_frame_codes() -> set[str]:
    """The code of every error frame the gateway writes itself: `error_frame("code", ...)`,
    `Refused("code", ...)`, `bad_frame(conn, "code", ...)`."""
    codes = set()
    for source in GATEWAY.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            position = {"error_frame": 0, "Refused": 0, "bad_frame": 1}.get(name)
            if position is not None and len(node.args) > position:
                if (code := _literal(node.args[position])) is not None:
                    codes.add(code)
    return codes


def cancel_codes() -> set[str]:
    """The session service's refusals of a cancel (the `cancel` frame's upstream call)."""
    tree = ast.parse((DISPATCH / "dispatch.py").read_text())
    cancel = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.AsyncFunctionDef) and n.name == "cancel_active"
    )
    calls = [n for n in ast.walk(cancel) if isinstance(n, ast.Call) and len(n.args) > 1]
    return {
        c for n in calls if getattr(n.func, "id", "") == "ApiError" if (c := _literal(n.args[1]))
    }


def test_every_frame_error_code_is_listed() -> None:
    listed = set(CODE.findall(section("A frame the gateway cannot accept", "\n### ")))
    codes = gateway_frame_codes() | cancel_codes()
    assert {"bad_frame", "unknown_type", "no_active_run"} <= codes, "code sources moved?"
    assert not codes - listed, f"frame error codes missing from docs/protocol.md: {codes - listed}"


def event_rows() -> list[tuple[list[str], str]]:
    """(event types, data cell) of each row of the event table."""
    rows = []
    for line in section("### Event types and their `data`\n", "\n\n").splitlines():
        if line.startswith("| `"):
            _, kinds, data, _ = CELL.split(line)
            rows.append((CODE.findall(kinds), data))
    return rows


def test_the_event_table_names_every_field_and_which_are_left_out() -> None:
    """A field the code leaves out when empty (`exclude_if`) is never shown as always there
    (`"field": null` or `bool`); every other field is named."""
    rows = event_rows()
    by_type = dict(zip(EVENT_TYPES, EVENT_CLASSES, strict=True))
    assert {kind for kinds, _ in rows for kind in kinds} == set(EVENT_TYPES)
    for kinds, cell in rows:
        for kind in kinds:
            data = by_type[kind].model_fields["data"].annotation
            assert isinstance(data, type) and issubclass(data, BaseModel)
            for name, field in data.model_fields.items():
                key = f'"{field.alias or name}"'
                assert key in cell, f"{kind}: {key} is not in the table"
                if field.exclude_if is not None:
                    shown_always = re.search(re.escape(key) + r": (null|bool)", cell)
                    assert not shown_always, f"{kind}: {key} is left out when empty"
