"""A small example MCP server (calculator and notes) the tool worker can connect to."""
