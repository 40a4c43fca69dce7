"""Switchboard's WebSocket gateway: devices connect here; REST is proxied to the session service."""
