"""The example MCP server: `calc` (the tool worker's safe calculator) and notes, kept per user.

The tool worker sends who a call is for in each `tools/call` request's `_meta`
(`switchboard/user_id`, `switchboard/session_id`, `switchboard/run_id`, `switchboard/call_id`):
`add_note` and `list_notes` keep each user's notes apart by `switchboard/user_id`, as any
server with state must.

`python -m switchboard_orchestrator.mcp_example` serves it over stdio (what MCP_SERVERS'
`command` entries start); `--http PORT` serves it over streamable HTTP at `/mcp` instead.
"""

import argparse
from collections import defaultdict

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ..tools.calc import CalcError, calculate

MAX_NOTES = 100
MAX_USERS = 10_000
USER_KEY = "switchboard/user_id"


def caller_of(ctx: Context) -> str:
    """The user a call is for (`_meta`); ToolError without one: no note is anyone's."""
    meta = ctx.request_context.meta or {}
    user = meta.get(USER_KEY)
    if not isinstance(user, str) or not user:
        raise ToolError(f"no {USER_KEY} in the request's _meta: notes are kept per user")
    return user


def example_server() -> MCPServer:
    server = MCPServer("switchboard-example", log_level="WARNING")
    notes: defaultdict[str, list[str]] = defaultdict(list)

    @server.tool()
    def calc(expression: str) -> dict[str, object]:
        """Evaluates arithmetic: numbers, + - * / // % ** and parentheses."""
        try:
            return {"expression": expression, "value": calculate(expression)}
        except CalcError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def add_note(text: str, ctx: Context) -> dict[str, object]:
        """Keeps a short note for the calling user (the newest 100 are kept)."""
        user = caller_of(ctx)
        if user not in notes and len(notes) >= MAX_USERS:
            del notes[next(iter(notes))]  # the oldest user's notes go first
        kept = notes[user]
        kept.append(text[:500])
        del kept[:-MAX_NOTES]
        return {"notes": len(kept)}

    @server.tool()
    def list_notes(ctx: Context) -> dict[str, object]:
        """The calling user's notes, oldest first."""
        return {"notes": list(notes.get(caller_of(ctx), []))}

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    server = example_server()
    if args.http:
        server.run("streamable-http", host=args.host, port=args.http)
    else:
        server.run("stdio")
