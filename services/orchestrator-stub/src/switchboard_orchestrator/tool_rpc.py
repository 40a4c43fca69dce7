"""The tool RPC between the run worker and the tool workers (the messages are
switchboard_protocol's `ToolCallRequest`, `ToolListRequest`, `ToolReply`, `ToolCancel`).

A request on `ai.commands`/`tool`: `{"call_id", "tool_name", "parameters", "user_id",
"session_id", "run_id"}` (who the call is for: every tool is given it) with
`reply_to` and `correlation_id` = call_id. A cancel, when the run stopped waiting (it was
cancelled, or the call timed out): `{"call_id"}` on `ai.control` with `tool-cancel.<call_id>`,
which every tool worker hears; the one running the call cancels it.

A tool list request is `{"call_id", "op": "list_tools"}` on the same route; its reply is
`{"result": {"tools": [{"name", "description", "parameters", "source"}]}}` (`parameters`
is the JSON schema; `source` is `builtin` or the MCP server's name). The run worker offers
those tools to the model; no tool code or registry is shared between the two services.
"""

import json
from dataclasses import dataclass
from typing import Any

from switchboard_events import Names
from switchboard_protocol import LIST_TOOLS, ToolCallRequest, ToolListRequest, dumps, is_name

MAX_TOOL_CALLS_PER_USER = 4
TOO_MANY = "too_many_tool_calls"


def call_id_of_cancel(routing_key: str | None) -> str | None:
    """The call id a cancel's routing key names, None when it is not a valid one."""
    call_id = Names.key_id(Names.TOOL_CANCEL, routing_key)
    return call_id if call_id is not None and is_name(call_id) else None


@dataclass(frozen=True)
class ToolRequest:
    call_id: str
    tool_name: str
    parameters: Any
    user_id: str
    op: str = "call"
    """`call` (run `tool_name`) or `list_tools`."""
    session_id: str = ""
    run_id: str = ""

    def body(self) -> bytes:
        if self.op == LIST_TOOLS:
            return dumps(ToolListRequest(call_id=self.call_id)).encode()
        call = ToolCallRequest(
            call_id=self.call_id,
            tool_name=self.tool_name,
            parameters=self.parameters,
            user_id=self.user_id,
            session_id=self.session_id,
            run_id=self.run_id,
        )
        return dumps(call).encode()

    @classmethod
    def parse(cls, body: bytes, correlation_id: str | None = None) -> "ToolRequest":
        """The request in `body`; ValueError (pydantic's ValidationError) when malformed."""
        request = json.loads(body)
        if isinstance(request, dict) and request.get("op") == LIST_TOOLS:
            listing = ToolListRequest.read(request)
            return cls(listing.call_id or correlation_id or "", "", {}, "", LIST_TOOLS)
        call = ToolCallRequest.read(request)
        call_id = call.call_id or correlation_id or ""
        return cls(
            call_id,
            call.tool_name,
            call.parameters,
            call.user_id,
            session_id=call.session_id,
            run_id=call.run_id,
        )
