"""Server frames other than events (switchboard_protocol's models, encoded once, as text)."""

from typing import Any

from switchboard_protocol import ActiveRun, HelloFrame, dumps
from switchboard_protocol import error_frame as _error_frame
from switchboard_protocol.frames import SERVER_FRAME_ADAPTER, PongFrame


def error_frame(code: str, message: str) -> str:
    """An error, flat and under `data`, so clients reading either shape find it."""
    return dumps(_error_frame(code, message))


def hello_frame(
    session_id: str,
    client_id: str,
    recovered: bool,
    heartbeat_s: int,
    ack_window: int,
    active_run: ActiveRun | None = None,
) -> str:
    """The hello; `active_run` (catch-up state of the run in progress) only when there is one.
    `resumed` (v1) means what `recovered` does: the device's events since its cursor follow."""
    hello = HelloFrame(
        session_id=session_id,
        client_id=client_id,
        resumed=recovered,
        recovered=recovered,
        heartbeat_s=heartbeat_s,
        ack_window=ack_window,
        active_run=active_run,
    )
    return dumps(hello)


def frame(kind: str, **fields: Any) -> str:
    """A server frame of type `kind` (ValidationError for an unknown type or field)."""
    return dumps(SERVER_FRAME_ADAPTER.validate_python({"type": kind, **fields}))


PONG = dumps(PongFrame())
