"""The tool RPC contract between the run worker and the tool workers (defined once here).

A request on `ai.commands`/`tool`: `{"call_id", "tool_name", "parameters", "user_id"}` with
`reply_to` and `correlation_id` = call_id. A cancel, when the run stopped waiting (it was
cancelled, or the call timed out): `{"call_id"}` on `ai.control` with `tool-cancel.<call_id>`,
which every tool worker hears; the one running the call cancels it.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_TOOL_CALLS_PER_USER = 4
CANCEL_BINDING = "tool-cancel.*"
TOO_MANY = "too_many_tool_calls"
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

    def body(self) -> bytes:
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
        name = request["tool_name"]
        if not isinstance(name, str):
            raise TypeError("tool_name must be a string")
        call_id = str(request.get("call_id") or correlation_id or "")
        user_id = str(request.get("user_id") or "")
        return cls(call_id, name, request.get("parameters", {}), user_id)
