"""What every service accepts as client JSON: the one check for REST bodies and WebSocket frames.

Postgres (JSONB, text) and the workers cannot take everything JSON can say. Refused, anywhere
in a value (object keys included): NUL (`\\u0000`), lone surrogates (`\\ud800` without its
pair), non-finite numbers (`NaN`, `Infinity`, which Python's json accepts) and nesting deeper
than MAX_DEPTH objects/arrays. `loads` parses and checks; `check` checks a parsed value.
"""

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays in client JSON (the top level counts as 1)."""

_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


class UnsafeJson(ValueError):
    """Client JSON this system cannot take; `where` is a dotted path (`metadata.a.0`)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


class NotJson(UnsafeJson):
    """Not JSON at all (syntax, encoding)."""


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson("", f"{name} is not allowed (numbers must be finite)")


def loads(raw: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed, checked value; UnsafeJson when it is not JSON or not acceptable."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise UnsafeJson("", f"nested deeper than {max_depth} levels") from exc
    except UnicodeDecodeError as exc:
        raise NotJson("", "not UTF-8") from exc
    except UnsafeJson:
        raise
    except ValueError as exc:
        raise NotJson("", f"not valid JSON ({exc})") from exc
    check(value, max_depth)
    return value


def check(value: Any, max_depth: int = MAX_DEPTH, where: str = "") -> None:
    """UnsafeJson naming the first place in `value` this system cannot take."""
    _check(value, max_depth, where, 0)


def check_text(text: str, where: str = "") -> None:
    """UnsafeJson when `text` holds NUL or a lone surrogate."""
    if _BAD_CHAR.search(text):
        problem = "NUL (\\u0000)" if "\x00" in text else "a lone surrogate"
        raise UnsafeJson(where, f"{problem} is not allowed")


def _check(value: Any, max_depth: int, where: str, depth: int) -> None:
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeJson(where, "numbers must be finite")
    elif isinstance(value, dict | list | tuple):
        if depth >= max_depth:
            raise UnsafeJson(where, f"nested deeper than {max_depth} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                check_text(key, where or "key")
            name = str(key)[:64]
            _check(item, max_depth, f"{where}.{name}" if where else name, depth + 1)
