"""Render the configuration tables of docs/configuration.md from the settings classes themselves.

A settings class names the settings an operator sets in its `OPERATOR` class variable: they come
first; the rest follow under "Tuning"; the fields of a class whose `STUB_ONLY` is true (the
scripted agent's and the test tools' knobs) come last, under their own heading.
`python -m scripts.config_table` rewrites the tables between that file's config markers;
`tests/test_docs.py` fails when they are stale.
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


OPERATOR, TUNING, STUB = "operator", "tuning", "stub"
HEADINGS = {
    TUNING: "### Tuning\n\nLimits, timeouts and pacing; the defaults suit most deployments.",
    STUB: "### Stub and test tools\n\nRead only by the scripted agent (`MODEL_BACKEND=stub`) and"
    " the built-in test tools: development and tests, not production.",
}


def _defined_by(cls: type, name: str) -> type:
    """The class in `cls`'s bases that declares field `name`."""
    return next(base for base in cls.__mro__ if name in getattr(base, "__annotations__", {}))


def _tier(cls: type, name: str, alias: str) -> str:
    owner = vars(_defined_by(cls, name))  # its own class variables, not those it inherits
    if owner.get("STUB_ONLY", False):
        return STUB
    return OPERATOR if alias in owner.get("OPERATOR", ()) else TUNING


def _check_operator_names(cls: type[BaseSettings]) -> None:
    aliases = {info.alias or name.upper() for name, info in cls.model_fields.items()}
    for base in cls.__mro__:
        unknown = set(vars(base).get("OPERATOR", ())) - aliases
        if unknown:
            raise ValueError(f"{base.__name__}.OPERATOR names no setting: {sorted(unknown)}")


def _fields(cls: type[BaseSettings]) -> list[tuple[str, FieldInfo, str, str]]:
    """(alias, field, doc, tier) of every setting, nested settings objects flattened."""
    _check_operator_names(cls)
    docs = _docstrings(cls)
    found = []
    for name, info in cls.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            found.extend(_fields(kind))
            continue
        doc = " ".join((info.description or docs.get(name, "")).split())
        alias = info.alias or name.upper()
        found.append((alias, info, doc, _tier(cls, name, alias)))
    return found


def rows() -> list[tuple[str, str, list[str], str, str]]:
    """(alias, default, readers, doc, tier) of every setting, by tier then name."""
    table: dict[str, tuple[str, list[str], str, str]] = {}
    for service, cls in _services():
        for alias, info, doc, tier in _fields(cls):
            default, readers, text, _ = table.get(alias, (_default(info), [], "", tier))
            if service not in readers:
                readers.append(service)
            table[alias] = (default, readers, text or doc, tier)
    order = [OPERATOR, TUNING, STUB]
    return sorted(
        ((alias, *table[alias]) for alias in table), key=lambda r: (order.index(r[4]), r[0])
    )


def _table(rows_: list[tuple[str, str, list[str], str, str]]) -> list[str]:
    lines = ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for alias, default, readers, doc, _ in rows_:
        lines.append(f"| `{alias}` | {default} | {', '.join(readers)} | {doc.replace('|', '/')} |")
    return lines


def render() -> str:
    every = rows()
    lines = _table([row for row in every if row[4] == OPERATOR])
    for tier in (TUNING, STUB):
        chosen = [row for row in every if row[4] == tier]
        if chosen:
            lines += ["", HEADINGS[tier], "", *_table(chosen)]
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
