"""Client → server frames (switchboard_protocol's models) and the WebSocket URL."""

from urllib.parse import urlencode, urlsplit, urlunsplit

from switchboard_protocol import dumps
from switchboard_protocol.frames import CLIENT_FRAME_ADAPTER, AckFrame, AuthFrame, RefreshFrame


def ws_url(base_url: str, session_id: str, client_id: str, ack: str = "client") -> str:
    """`ws(s)://host/ai/ws/{session_id}?client_id=...&ack=...` from the gateway's http(s) URL."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = f"{parts.path.rstrip('/')}/ai/ws/{session_id}"
    query = urlencode({"client_id": client_id, "ack": ack})
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def frame(kind: str, **fields: object) -> str:
    """A client frame of type `kind` (`stream.send`); ValidationError for an unknown type or
    field, before anything is sent."""
    return dumps(CLIENT_FRAME_ADAPTER.validate_python({"type": kind, **fields}))


def auth(token: str, cursor: str | None = None) -> str:
    """The auth frame; with `cursor` (the last event this device processed), the gateway sends
    the session's events after it before the live tail (`recovered: true` in the hello)."""
    return dumps(AuthFrame(token=token, cursor=cursor))


def ack(event_id: str) -> str:
    return dumps(AckFrame(id=event_id))


def refresh(token: str) -> str:
    return dumps(RefreshFrame(token=token))
