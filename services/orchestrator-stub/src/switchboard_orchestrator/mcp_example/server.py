"""The example MCP server: `calc` (the tool worker's safe calculator) and a notes list.

`python -m switchboard_orchestrator.mcp_example` serves it over stdio (what MCP_SERVERS'
`command` entries start); `--http PORT` serves it over streamable HTTP at `/mcp` instead.
"""

import argparse

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ..tools.calc import CalcError, calculate

MAX_NOTES = 100


def example_server() -> MCPServer:
    server = MCPServer("switchboard-example", log_level="WARNING")
    notes: list[str] = []

    @server.tool()
    def calc(expression: str) -> dict[str, object]:
        """Evaluates arithmetic: numbers, + - * / // % ** and parentheses."""
        try:
            return {"expression": expression, "value": calculate(expression)}
        except CalcError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def add_note(text: str) -> dict[str, object]:
        """Keeps a short note (this server's memory; the newest 100 are kept)."""
        notes.append(text[:500])
        del notes[:-MAX_NOTES]
        return {"notes": len(notes)}

    @server.tool()
    def list_notes() -> dict[str, object]:
        """The notes kept so far, oldest first."""
        return {"notes": list(notes)}

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
