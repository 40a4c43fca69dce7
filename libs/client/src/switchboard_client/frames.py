"""Client → server frames and the WebSocket URL."""

import json
from urllib.parse import urlencode, urlsplit, urlunsplit


def ws_url(base_url: str, session_id: str, client_id: str, ack: str = "client") -> str:
    """`ws(s)://host/ai/ws/{session_id}?client_id=...&ack=...` from the gateway's http(s) URL."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = f"{parts.path.rstrip('/')}/ai/ws/{session_id}"
    query = urlencode({"client_id": client_id, "ack": ack})
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def frame(kind: str, **fields: object) -> str:
    return json.dumps({"type": kind, **fields})


def auth(token: str) -> str:
    return frame("auth", token=token)


def ack(event_id: str) -> str:
    return frame("ack", id=event_id)


def refresh(token: str) -> str:
    return frame("refresh", token=token)
