"""Tools by name: each has a JSON schema for its parameters and an async handler."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ToolError(Exception):
    """A tool call that cannot be answered; its message goes back as `{"error": ...}`."""


@dataclass
class Tool:
    name: str
    description: str
    schema: dict[str, Any]
    handler: Handler
    _validator: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._validator = jsonschema_rs.validator_for(self.schema)

    def check(self, parameters: Any) -> None:
        """ToolError naming every problem when `parameters` do not fit the schema."""
        problems = [_describe(err) for err in self._validator.iter_errors(parameters)]
        if problems:
            raise ToolError(f"bad parameters for {self.name}: " + "; ".join(problems))


def _describe(error: jsonschema_rs.ValidationError) -> str:
    where = "/".join(str(part) for part in error.instance_path)
    return f"{where}: {error.message}" if where else error.message


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    async def call(self, name: str, parameters: Any) -> Any:
        """The tool's result; ToolError for an unknown tool or bad parameters."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}; known: {', '.join(self.names())}")
        tool.check(parameters)
        return await tool.handler(parameters)
