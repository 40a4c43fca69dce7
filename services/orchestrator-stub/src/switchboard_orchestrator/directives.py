"""The stub's script language: a message that starts with a directive asks for exact behaviour.

See PROTOCOL.md ("The orchestrator stub's directives"). Anything else is `Chat`.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_TOKENS = 100_000
MAX_SLEEP_S = 3600.0
MAX_SPEAK_CHARS = 2000
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BadDirective(ValueError):
    """A directive with arguments it cannot run (the run fails with this message)."""


@dataclass(frozen=True)
class Tokens:
    count: int
    rate: float
    """Tokens per second; 0 = as fast as possible."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SwitchAgent:
    name: str


@dataclass(frozen=True)
class Fail:
    pass


@dataclass(frozen=True)
class Speak:
    text: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Chat:
    text: str


Directive = Tokens | ToolCall | SwitchAgent | Fail | Speak | Sleep | Chat


def parse(content: str) -> Directive:
    """The directive `content` starts with, or `Chat`; BadDirective for bad arguments."""
    text = content.strip()
    head, _, rest = text.partition(" ")
    parser = _PARSERS.get(head.lower()) if head.startswith("/") else None
    if parser is None:
        return Chat(text)
    return parser(rest.strip())


def _tokens(rest: str) -> Directive:
    words = rest.split()
    if not words:
        raise BadDirective("usage: /tokens N [rate=R]")
    count = _number(words[0], int, "N", 0, MAX_TOKENS)
    rate = 0.0
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if key != "rate" or not sep:
            raise BadDirective(f"/tokens: unknown argument {word!r} (expected rate=R)")
        rate = _number(value, float, "rate", 0, 100_000)
    return Tokens(count, rate)


def _tool(rest: str) -> Directive:
    words = split_words(rest)
    if not words or not _NAME.fullmatch(words[0]):
        raise BadDirective("usage: /tool NAME key=value ...")
    params: dict[str, Any] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise BadDirective(f"/tool: {word!r} is not key=value")
        params[key] = _json_or_text(value)
    return ToolCall(words[0], params)


def split_words(text: str) -> list[str]:
    """Split on spaces outside quotes and brackets, keeping both (`k=[1, 2]`, `k="a b"`)."""
    words: list[str] = []
    current: list[str] = []
    quote, depth = "", 0
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif _opens_quote(char, current, depth):
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char.isspace() and not depth:
            if current:
                words.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or depth:
        raise BadDirective(f"unbalanced quote or bracket in {text!r}")
    if current:
        words.append("".join(current))
    return words


def _opens_quote(char: str, current: list[str], depth: int) -> bool:
    """A quote opens a string at the start of a value, or `"` anywhere inside JSON brackets."""
    at_value_start = not current or current[-1] == "="
    return (char == '"' and depth > 0) or (char in "\"'" and at_value_start)


def _agent(rest: str) -> Directive:
    if not _NAME.fullmatch(rest):
        raise BadDirective("usage: /agent NAME (letters, digits, _ and -)")
    return SwitchAgent(rest)


def _error(rest: str) -> Directive:
    return Fail()


def _speak(rest: str) -> Directive:
    if not rest:
        raise BadDirective("usage: /speak TEXT")
    if len(rest) > MAX_SPEAK_CHARS:
        raise BadDirective(f"/speak: at most {MAX_SPEAK_CHARS} characters")
    return Speak(rest)


def _sleep(rest: str) -> Directive:
    return Sleep(_number(rest, float, "S", 0, MAX_SLEEP_S))


def _number(text: str, kind: type[int] | type[float], what: str, low: float, high: float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise BadDirective(f"{what} must be a number, not {text!r}") from None
    if not low <= value <= high or value != value:
        raise BadDirective(f"{what} must be between {low:g} and {high:g}")
    return value


def _json_or_text(value: str) -> Any:
    """JSON when it parses (numbers, true, "quoted", [..]), 'single quoted' text, else text."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    try:
        return json.loads(value, parse_constant=_no_constant)
    except ValueError:
        return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_PARSERS = {
    "/tokens": _tokens,
    "/tool": _tool,
    "/agent": _agent,
    "/error": _error,
    "/speak": _speak,
    "/sleep": _sleep,
}
