"""The tools a run offers the model: the tool workers' list (`list_tools` RPC), kept for
`TOOL_LIST_TTL_S` so most runs pay nothing, as OpenAI function tools. A failed list (no tool
worker answered) is kept as long, so runs meanwhile answer without tools at once."""

import asyncio
import logging
import time
from typing import Any

from switchboard_protocol import is_name

from .tool_client import ToolClient, ToolsUnavailable

log = logging.getLogger(__name__)


class ToolCatalog:
    def __init__(self, client: ToolClient, ttl_s: float) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._tools: list[dict[str, Any]] = []
        self._needs_approval: frozenset[str] = frozenset()
        self._until = 0.0
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def functions(self) -> list[dict[str, Any]]:
        """The tools as OpenAI function tools; ToolsUnavailable when no tool worker answers
        (and nothing fresh is cached)."""
        async with self._lock:
            if time.monotonic() >= self._until:
                await self._refresh()
            if self._error is not None:
                raise ToolsUnavailable(self._error)
            return self._tools

    async def requires_approval(self, name: str) -> bool:
        """Whether the tool workers mark `name` as needing a human decision (its MCP server is
        marked `requires_approval`); False when no tool worker answers."""
        try:
            await self.functions()
        except ToolsUnavailable:
            return False
        return name in self._needs_approval

    async def _refresh(self) -> None:
        """Ask again; a failure is remembered as long as a list (runs do not each wait)."""
        try:
            listed = await self._client.list_tools()
            self._tools, self._error = [as_function(t) for t in listed if _offerable(t)], None
            self._needs_approval = frozenset(
                str(t.get("name")) for t in listed if t.get("requires_approval")
            )
        except ToolsUnavailable as exc:
            self._tools, self._error = [], str(exc)
        self._until = time.monotonic() + self._ttl_s


def _offerable(tool: dict[str, Any]) -> bool:
    ok = is_name(tool.get("name"))  # the name rule is also OpenAI's for function names
    if not ok:
        log.warning("tool %r not offered: not a valid function name", tool.get("name"))
    return ok


def as_function(tool: dict[str, Any]) -> dict[str, Any]:
    """One tool as an OpenAI function tool (an object schema without properties gets `{}`)."""
    schema = tool.get("parameters")
    schema = dict(schema) if isinstance(schema, dict) else {"type": "object"}
    schema.setdefault("type", "object")
    if schema["type"] == "object":
        schema.setdefault("properties", {})
    function = {"name": tool["name"], "description": str(tool.get("description") or "")}
    return {"type": "function", "function": {**function, "parameters": schema}}


__all__ = ["ToolCatalog", "ToolsUnavailable", "as_function"]
