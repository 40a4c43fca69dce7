"""The tool RPC contract between the run worker and the tool workers (defined once here).

A request on `ai.commands`/`tool`: `{"call_id", "tool_name", "parameters", "user_id"}` with
`reply_to` and `correlation_id` = call_id. A cancel, when the run stopped waiting (it was
cancelled, or the call timed out): `{"call_id"}` on `ai.control` with `tool-cancel.<call_id>`,
which every tool worker hears; the one running the call cancels it.

A tool list request is `{"call_id", "op": "list_tools"}` on the same route; its reply is
`{"result": {"tools": [{"name", "description", "parameters", "source"}]}}` (`parameters`
is the JSON schema; `source` is `builtin` or the MCP server's name). The run worker offers
those tools to the model; no tool code or registry is shared between the two services.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_TOOL_CALLS_PER_USER = 4
CANCEL_BINDING = "tool-cancel.*"
TOO_MANY = "too_many_tool_calls"
LIST_TOOLS = "list_tools"
_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def cancel_key(call_id: str) -> str:
    return f"tool-cancel.{call_id}"


def call_id_of_cancel(routing_key: str | None) -> str | None:
    """The call id a cancel's routing key names, None when it is not a valid one."""
    call_id = (routing_key or "").removeprefix("tool-cancel.")
    return call_id if _CALL_ID.fullmatch(call_id) else None


@dataclass(frozen=True)
class ToolRequest:
    call_id: str
    tool_name: str
    parameters: Any
    user_id: str
    op: str = "call"
    """`call` (run `tool_name`) or `list_tools`."""

    def body(self) -> bytes:
        if self.op == LIST_TOOLS:
            return json.dumps({"call_id": self.call_id, "op": LIST_TOOLS}).encode()
        fields = {
            "call_id": self.call_id,
            "tool_name": self.tool_name,
            "parameters": self.parameters,
            "user_id": self.user_id,
        }
        return json.dumps(fields).encode()

    @classmethod
    def parse(cls, body: bytes, correlation_id: str | None = None) -> "ToolRequest":
        """The request in `body`; ValueError, KeyError or TypeError when malformed."""
        request = json.loads(body)
        call_id = str(request.get("call_id") or correlation_id or "")
        if request.get("op") == LIST_TOOLS:
            return cls(call_id, "", {}, "", LIST_TOOLS)
        name = request["tool_name"]
        if not isinstance(name, str):
            raise TypeError("tool_name must be a string")
        user_id = str(request.get("user_id") or "")
        return cls(call_id, name, request.get("parameters", {}), user_id)
