"""MCP_SERVERS entries (kept apart from the `mcp` client, so reading settings stays light)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from switchboard_protocol import NAME_PATTERN


class McpServerConfig(BaseModel):
    """One entry of MCP_SERVERS: `{"name", "command", "args", "env"}` or `{"name", "url"}`,
    optionally with `"requires_approval": true`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    url: str | None = None
    requires_approval: bool = False
    """Every tool of this server waits for a human `tool_decision` before it runs."""

    @model_validator(mode="after")
    def _one_transport(self) -> "McpServerConfig":
        if (self.command is None) == (self.url is None):
            raise ValueError(f"MCP server {self.name!r}: give either `command` or `url`")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command else "http"
