"""Server frames other than events (encoded once, as text)."""

import json
from typing import Any


def error_frame(code: str, message: str) -> str:
    """An error, flat and under `data`, so clients reading either shape find it."""
    body = {"code": code, "message": message}
    return json.dumps({"type": "error", **body, "data": body})


def hello_frame(
    session_id: str,
    client_id: str,
    resumed: bool,
    heartbeat_s: int,
    ack_window: int,
    active_run: dict[str, Any] | None = None,
) -> str:
    """The hello; `active_run` (catch-up state of the run in progress) only when there is one."""
    hello: dict[str, Any] = {
        "type": "connected",
        "session_id": session_id,
        "client_id": client_id,
        "resumed": resumed,
        "heartbeat_s": heartbeat_s,
        "ack_window": ack_window,
    }
    if active_run is not None:
        hello["active_run"] = active_run
    return json.dumps(hello)


def frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


PONG = frame("pong")
