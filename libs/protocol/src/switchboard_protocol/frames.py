"""WebSocket frames other than events, both ways (`/ai/ws/{session_id}`).

Client frames are what a client sends; server frames are what the gateway sends besides events.
An error frame has the same `type` as an `error` event but no `id`: tell them apart by `id`.
Optional fields are left out of the JSON when unset (`exclude_if`), as the gateway always sent.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, TypeAdapter

from .base import WireModel
from .runs import ActiveRun

OnBusy = Literal["reject", "interrupt", "enqueue"]


class AuthFrame(WireModel):
    """The first frame, within AUTH_TIMEOUT_S, unless the upgrade carried `Authorization`."""

    type: Literal["auth"] = "auth"
    token: str = Field(min_length=1)
    cursor: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """The `cursor` of the last event this device processed (opaque; the query string's
    `cursor=` says the same): its events after that one follow the hello when `recovered`."""


class AckFrame(WireModel):
    """That event and every earlier one are processed (releases them with `ack=client`)."""

    type: Literal["ack"] = "ack"
    id: str


class MessageFrame(WireModel):
    """Like `POST /ai/sessions/{id}/message`; answered by `message_accepted` or an error."""

    type: Literal["message"] = "message"
    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    on_busy: OnBusy | None = Field(default=None, exclude_if=lambda v: v is None)


class CancelFrame(WireModel):
    """Stop the active run; it ends with `run_end` `{"status": "cancelled"}`."""

    type: Literal["cancel"] = "cancel"


class ToolDecisionFrame(WireModel):
    """Approve or deny a `tool_call` with `requires_approval`; answered by
    `tool_decision_accepted` or an error (`already_decided`, `unknown_call`, ...)."""

    type: Literal["tool_decision"] = "tool_decision"
    call_id: str
    approve: StrictBool
    reason: str | None = Field(default=None, exclude_if=lambda v: v is None)


class TypingFrame(WireModel):
    """Tells the session's other devices (a `typing` event with `metadata.client_id`)."""

    type: Literal["typing"] = "typing"


class RefreshFrame(WireModel):
    """A new token for this connection (without one: close 4401 when the token expires)."""

    type: Literal["refresh"] = "refresh"
    token: str = Field(min_length=1)


class PingFrame(WireModel):
    """Answered by `pong`."""

    type: Literal["ping"] = "ping"


ClientFrame = Annotated[
    AuthFrame
    | AckFrame
    | MessageFrame
    | CancelFrame
    | ToolDecisionFrame
    | TypingFrame
    | RefreshFrame
    | PingFrame,
    Field(discriminator="type"),
]
"""Any text frame a client sends (binary frames are audio, for voice sessions)."""

CLIENT_FRAME_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
CLIENT_FRAME_CLASSES: tuple[type[WireModel], ...] = (
    AuthFrame,
    AckFrame,
    MessageFrame,
    CancelFrame,
    ToolDecisionFrame,
    TypingFrame,
    RefreshFrame,
    PingFrame,
)
CLIENT_FRAME_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].default for cls in CLIENT_FRAME_CLASSES
)


class HelloFrame(WireModel):
    """The server's first frame after authentication."""

    type: Literal["connected"] = "connected"
    session_id: str
    client_id: str
    resumed: bool
    """The same as `recovered` (its v1 name: "your events since last time follow")."""
    recovered: bool
    """True: the cursor sent was recovered, and this device's events after it follow, with no
    gap and no duplicate. False (no cursor, a malformed one, or one past retention / of a
    recreated stream): load the history; `active_run` says what of a run is already out."""
    heartbeat_s: int
    ack_window: int
    """Most unacknowledged events in flight with `ack=client`: ack every half window."""
    active_run: ActiveRun | None = Field(default=None, exclude_if=lambda v: v is None)
    """The run in progress so far (catch-up), only when there is one."""


class PongFrame(WireModel):
    type: Literal["pong"] = "pong"


class ErrorData(WireModel):
    code: str
    message: str


INVALID_CURSOR = "invalid_cursor"
"""Error frame code: the cursor sent on connect did not parse (sent right after the hello,
which then says `recovered: false`)."""


class ErrorFrame(WireModel):
    """A frame refused, or an upstream error; the connection stays open. The code and message
    are both flat and under `data` (clients reading either shape find them); no `id`. Codes
    include `bad_frame`, `unknown_type`, `invalid_cursor` (docs/protocol.md lists them)."""

    type: Literal["error"] = "error"
    code: str
    message: str
    data: ErrorData


class MessageAcceptedFrame(WireModel):
    """The answer to a `message` frame."""

    type: Literal["message_accepted"] = "message_accepted"
    message_id: str
    run_id: str


class ToolDecisionAcceptedFrame(WireModel):
    """The answer to a `tool_decision` frame."""

    type: Literal["tool_decision_accepted"] = "tool_decision_accepted"
    call_id: str
    approve: bool
    status: Literal["approved", "denied"]


ServerFrame = Annotated[
    HelloFrame | PongFrame | ErrorFrame | MessageAcceptedFrame | ToolDecisionAcceptedFrame,
    Field(discriminator="type"),
]
"""Any text frame the gateway sends that is not an event."""

SERVER_FRAME_ADAPTER: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)

SERVER_FRAME_CLASSES: tuple[type[WireModel], ...] = (
    HelloFrame,
    PongFrame,
    ErrorFrame,
    MessageAcceptedFrame,
    ToolDecisionAcceptedFrame,
)


def error_frame(code: str, message: str) -> ErrorFrame:
    return ErrorFrame(code=code, message=message, data=ErrorData(code=code, message=message))
