"""The tools every tool worker serves: get_time, calculate, create_family, echo, slow.

Each handler gets the call's `Caller` (user, session, run); none of these keeps state, so
none needs it yet: a built-in that does keeps it per `caller.user_id`."""

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .calc import CalcError, calculate
from .registry import Caller, Tool, ToolError


async def get_time(params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    name = params.get("timezone", "UTC")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown timezone {name!r}") from None
    now = datetime.now(UTC).astimezone(zone)
    iso = now.isoformat(timespec="seconds")
    return {"timezone": name, "iso": iso, "weekday": now.strftime("%A")}


async def calc(params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    expression = str(params["expression"])
    try:
        return {"expression": expression, "value": calculate(expression)}
    except CalcError as exc:
        raise ToolError(str(exc)) from None


async def create_family(params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """A family group (deterministic id, so repeating the call is harmless)."""
    members = params.get("members", [])
    digest = hashlib.sha256(f"{params['name']}\0{members}".encode()).hexdigest()[:12]
    return {"family_id": f"fam_{digest}", "name": params["name"], "members": members}


async def echo(params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    return {"echo": params}


def slow_tool(max_seconds: float) -> Tool:
    async def slow(params: dict[str, Any], caller: Caller) -> dict[str, Any]:
        seconds = float(params.get("seconds", 1))
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    schema = _object({"seconds": {"type": "number", "minimum": 0, "maximum": max_seconds}})
    return Tool("slow", "Sleeps for `seconds`, then answers (timeout tests).", schema, slow)


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


def builtin_tools(slow_max_s: float) -> list[Tool]:
    member = {"type": "string", "minLength": 1, "maxLength": 100}
    return [
        Tool(
            "get_time",
            "The current time in an IANA timezone (default UTC).",
            _object({"timezone": {"type": "string", "minLength": 1, "maxLength": 64}}),
            get_time,
        ),
        Tool(
            "calculate",
            "Evaluates arithmetic: numbers, + - * / // % ** and parentheses.",
            _object({"expression": {"type": ["string", "number"]}}, ["expression"]),
            calc,
        ),
        Tool(
            "create_family",
            "Creates a family group with a name and its members.",
            _object(
                {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "members": {"type": "array", "items": member, "maxItems": 50},
                },
                ["name"],
            ),
            create_family,
        ),
        Tool("echo", "Answers with its parameters.", {"type": "object"}, echo),
        slow_tool(slow_max_s),
    ]
