"""docs/protocol.md's REST table says what the session service answers: each call's success
status, and the body of every answer it spells out as `{"field", ...}` (every 202 does). The
gateway's own calls (health, metrics) are not the session service's."""

import re
from pathlib import Path
from typing import Any

import pytest
from switchboard_events.auth import AuthSettings
from switchboard_gateway.openapi import PROXIED
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
    settings = SessionSettings(auth=AuthSettings(SWITCHBOARD_ENV="dev"))
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
