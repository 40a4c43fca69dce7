"""Render the configuration table of docs/configuration.md from the settings classes themselves.

`python -m scripts.config_table` rewrites the table between that file's config markers;
`tests/test_docs.py` fails when the table is stale.
"""

import re
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

CONFIG_DOC = Path(__file__).parents[1] / "docs" / "configuration.md"
START, END = "<!-- config:start -->", "<!-- config:end -->"


def _services() -> list[tuple[str, type[BaseSettings]]]:
    from switchboard_gateway.settings import GatewaySettings
    from switchboard_orchestrator.settings import ToolSettings, WorkerSettings
    from switchboard_session.settings import SessionSettings

    return [
        ("gateway", GatewaySettings),
        ("session", SessionSettings),
        ("worker", WorkerSettings),
        ("tools", ToolSettings),
    ]


def _docstrings(cls: type) -> dict[str, str]:
    """Field docstrings of `cls` and its bases (the text under each field)."""
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if issubclass(base, BaseSettings) and base is not BaseSettings:
            try:
                docs.update(extract_docstrings_from_cls(base, use_inspect=True))
            except (OSError, TypeError):
                continue
    return docs


def _default(info: FieldInfo) -> str:
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return "(unset)"
    if hasattr(value, "get_secret_value"):
        return "(dev secret)"
    text = str(value)
    if "/site-packages/" in text or "/src/" in text:
        return "(bundled)"
    return f"`{text}`"


def _fields(cls: type[BaseSettings]) -> list[tuple[str, FieldInfo, str]]:
    """(alias, field, doc) of every setting, nested settings objects flattened."""
    docs = _docstrings(cls)
    found = []
    for name, info in cls.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            found.extend(_fields(kind))
            continue
        doc = " ".join((info.description or docs.get(name, "")).split())
        found.append((info.alias or name.upper(), info, doc))
    return found


def rows() -> list[tuple[str, str, list[str], str]]:
    table: dict[str, tuple[str, list[str], str]] = {}
    for service, cls in _services():
        for alias, info, doc in _fields(cls):
            default, readers, text = table.get(alias, (_default(info), [], ""))
            if service not in readers:
                readers.append(service)
            table[alias] = (default, readers, text or doc)
    return [(alias, *table[alias]) for alias in sorted(table)]


def render() -> str:
    lines = ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for alias, default, readers, doc in rows():
        lines.append(f"| `{alias}` | {default} | {', '.join(readers)} | {doc.replace('|', '/')} |")
    return "\n".join(lines)


def update(text: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    table = f"{START}\n{render()}\n{END}"
    return pattern.sub(lambda _: table, text)  # a function: backslashes in docs stay as they are


def main() -> None:
    text = CONFIG_DOC.read_text()
    if START not in text:
        sys.exit(f"{CONFIG_DOC} has no {START} marker")
    CONFIG_DOC.write_text(update(text))
    print(f"updated the configuration table in {CONFIG_DOC}")


if __name__ == "__main__":
    main()
