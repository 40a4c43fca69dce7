"""Tools by name: each has a JSON schema for its parameters and an async handler."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs


@dataclass(frozen=True)
class Caller:
    """On whose behalf a call runs (from the tool request): a tool that keeps state keeps
    it per user; MCP servers get it as the `tools/call` request's `_meta` (`meta()`)."""

    user_id: str = ""
    session_id: str = ""
    run_id: str = ""
    call_id: str = ""

    def meta(self) -> dict[str, str]:
        """The MCP `_meta` keys (prefixed `switchboard/`, as MCP asks of custom keys)."""
        return {
            f"{META_PREFIX}user_id": self.user_id,
            f"{META_PREFIX}session_id": self.session_id,
            f"{META_PREFIX}run_id": self.run_id,
            f"{META_PREFIX}call_id": self.call_id,
        }


META_PREFIX = "switchboard/"
NOBODY = Caller()
Handler = Callable[[dict[str, Any], Caller], Awaitable[Any]]


class ToolError(Exception):
    """A tool call that cannot be answered; its message goes back as `{"error": ...}`."""


@dataclass
class Tool:
    name: str
    description: str
    schema: dict[str, Any]
    handler: Handler
    source: str = "builtin"
    """`builtin`, or the name of the MCP server that serves it."""
    requires_approval: bool = False
    """Its calls wait for a human decision (an MCP server marked `requires_approval`)."""
    _validator: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._validator = jsonschema_rs.validator_for(self.schema)

    def describe(self) -> dict[str, Any]:
        """The tool as `list_tools` answers it (tool_rpc.py)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.schema,
            "source": self.source,
            "requires_approval": self.requires_approval,
        }

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

    def replace_source(self, source: str, tools: list[Tool]) -> list[str]:
        """Make `tools` the ones `source` serves (dropping its earlier ones); a tool whose name
        another source already has is skipped. The names skipped."""
        for name in [name for name, tool in self._tools.items() if tool.source == source]:
            del self._tools[name]
        skipped = []
        for tool in tools:
            if tool.name in self._tools:
                skipped.append(tool.name)
            else:
                self._tools[tool.name] = tool
        return skipped

    def names(self) -> list[str]:
        return sorted(self._tools)

    def describe(self) -> list[dict[str, Any]]:
        return [self._tools[name].describe() for name in self.names()]

    async def call(self, name: str, parameters: Any, caller: Caller = NOBODY) -> Any:
        """The tool's result for `caller`; ToolError for an unknown tool or bad parameters."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}; known: {', '.join(self.names())}")
        tool.check(parameters)
        return await tool.handler(parameters, caller)
