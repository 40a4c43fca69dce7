"""The tool worker: MCP-style tools (name, JSON schema, handler) served over RPC."""
