"""The stub's script language: a message that starts with a directive asks for exact behaviour.

See docs/protocol.md ("The orchestrator stub's directives"). Anything else is `Chat`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchboard_edge import safe_json
from switchboard_protocol import NAME_RE

from .limits import RunLimits

MAX_RATE = 100_000.0
_DEFAULT_LIMITS = RunLimits()


class BadDirective(ValueError):
    """A directive with arguments it cannot run (the run fails with this message)."""

    code = "bad_directive"


class OverLimit(BadDirective):
    """Arguments beyond a configured cap; the message names the setting."""

    code = "limit_exceeded"


@dataclass(frozen=True)
class Tokens:
    count: int
    rate: float
    """Tokens per second; 0 = as fast as possible."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    approval: bool = False
    """`/approve`: the call waits for a human decision before it runs."""


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


def parse(content: str, limits: RunLimits = _DEFAULT_LIMITS) -> Directive:
    """The directive `content` starts with, or `Chat`; BadDirective for bad arguments,
    OverLimit for arguments beyond `limits` (checked before the run does anything)."""
    text = content.strip()
    head, _, rest = text.partition(" ")
    parser = _PARSERS.get(head.lower()) if head.startswith("/") else None
    if parser is None:
        return Chat(text)
    return parser(rest.strip(), limits)


def _tokens(rest: str, limits: RunLimits) -> Directive:
    words = rest.split()
    if not words:
        raise BadDirective("usage: /tokens N [rate=R]")
    count = _number(words[0], int, "N", 0, None)
    rate = 0.0
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if key != "rate" or not sep:
            raise BadDirective(f"/tokens: unknown argument {word!r} (expected rate=R)")
        rate = _number(value, float, "rate", 0, MAX_RATE)
    if count > limits.max_tokens:
        raise OverLimit(f"/tokens: at most {limits.max_tokens} tokens (STUB_MAX_TOKENS)")
    seconds = (count - 1) / rate if rate and count > 1 else 0.0
    if seconds > limits.max_run_s:
        raise OverLimit(
            f"/tokens {count} rate={rate:g} would take {seconds:g} s; a run may take at most "
            f"{limits.max_run_s:g} s (MAX_RUN_S)"
        )
    return Tokens(count, rate)


def _tool(rest: str, limits: RunLimits, directive: str = "/tool") -> ToolCall:
    words = split_words(rest)
    if not words or not NAME_RE.fullmatch(words[0]):
        raise BadDirective(f"usage: {directive} NAME key=value ...")
    params: dict[str, Any] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise BadDirective(f"{directive}: {word!r} is not key=value")
        params[key] = _json_or_text(value)
    return ToolCall(words[0], params)


def _approve(rest: str, limits: RunLimits) -> Directive:
    """`/approve NAME key=value ...`: `/tool`, run only once a device approves it."""
    call = _tool(rest, limits, "/approve")
    return ToolCall(call.name, call.parameters, approval=True)


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


def _agent(rest: str, limits: RunLimits) -> Directive:
    if not NAME_RE.fullmatch(rest):
        raise BadDirective("usage: /agent NAME (letters, digits, _ and -)")
    return SwitchAgent(rest)


def _error(rest: str, limits: RunLimits) -> Directive:
    return Fail()


def _speak(rest: str, limits: RunLimits) -> Directive:
    if not rest:
        raise BadDirective("usage: /speak TEXT")
    if len(rest) > limits.max_tts_chars:
        raise OverLimit(f"/speak: at most {limits.max_tts_chars} characters (MAX_TTS_CHARS)")
    return Speak(rest)


def _sleep(rest: str, limits: RunLimits) -> Directive:
    seconds = _number(rest, float, "S", 0, None)
    if seconds > limits.max_sleep_s:
        raise OverLimit(f"/sleep: at most {limits.max_sleep_s:g} s (STUB_MAX_SLEEP_S)")
    if seconds > limits.max_run_s:
        raise OverLimit(f"/sleep: a run may take at most {limits.max_run_s:g} s (MAX_RUN_S)")
    return Sleep(seconds)


def _number(
    text: str, kind: type[int] | type[float], what: str, low: float, high: float | None
) -> Any:
    """`text` as a finite number of `kind` in [low, high] (no upper bound when None)."""
    try:
        value = kind(text)
    except ValueError:
        raise BadDirective(f"{what} must be a number, not {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadDirective(f"{what} must be a finite number")
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise BadDirective(f"{what} must be {bound}")
    return value


def _json_or_text(value: str) -> Any:
    """JSON when it parses (numbers, true, "quoted", [..]), 'single quoted' text, else text.
    JSON that decodes to what the system cannot carry (a `\\u0000` or lone-surrogate escape,
    NaN, deep nesting) is a bad directive, never a parameter."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    try:
        parsed = json.loads(value, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return value
    try:
        safe_json.check(parsed)
    except safe_json.UnsafeJson as exc:
        raise BadDirective(f"/tool: {value[:40]!r}: {exc}") from exc
    return parsed


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_PARSERS: dict[str, Callable[[str, RunLimits], Directive]] = {
    "/tokens": _tokens,
    "/tool": _tool,
    "/approve": _approve,
    "/agent": _agent,
    "/error": _error,
    "/speak": _speak,
    "/sleep": _sleep,
}
