"""Request and response bodies of the REST API (they make the OpenAPI document)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from switchboard_edge import safe_json
from switchboard_protocol import NAME_PATTERN, ActiveRun


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _storable(self) -> "_Strict":
        """What Postgres and the workers cannot take is refused (422) in every field."""
        for name in type(self).model_fields:
            try:
                safe_json.check(getattr(self, name), where=name)
            except safe_json.UnsafeJson as exc:
                raise ValueError(str(exc)) from exc
        return self


class CreateSession(_Strict):
    agent_type: str = Field(default="personal", pattern=NAME_PATTERN)
    mode: Literal["text", "voice"] = "text"
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_context: dict[str, Any] = Field(default_factory=dict)
    client_id: str = Field(default="default", pattern=NAME_PATTERN)
    """The creating device; its event buffer exists before its first WebSocket connect."""


class SendMessage(_Strict):
    content: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    on_busy: Literal["reject", "interrupt", "enqueue"] = "reject"
    """While a run is active: 409 (`reject`), cancel it (`interrupt`) or wait (`enqueue`)."""


class DevTokenRequest(_Strict):
    user_id: str = Field(min_length=1, max_length=255)


class DevToken(BaseModel):
    token: str


class Session(BaseModel):
    id: str
    user_id: str
    agent_type: str
    mode: Literal["text", "voice"]
    status: Literal["active", "ended"]
    created_at: datetime
    expires_at: datetime
    metadata: dict[str, Any]
    ws_url: str
    title: str | None = None
    """The first user message (its first 80 characters); null before the first message. Set
    in `GET /ai/sessions` lists and `GET /ai/sessions/{id}`."""


class ToolData(BaseModel):
    kind: Literal["call", "result"]
    call_id: str
    tool_name: str
    parameters: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None
    reason: str | None = None
    """Why a call was `denied` or timed out (`approval_timeout`)."""
    requires_approval: bool = False
    approval_expires_at: datetime | None = None


class Message(BaseModel):
    id: str
    seq: int
    role: Literal["user", "assistant", "tool"]
    content: str
    """All of it, or its first HISTORY_CONTENT_CHARS characters when `truncated`."""
    truncated: bool = False
    """`content` is cut: read the rest with `GET .../messages/{id}/content?offset=...` (from
    its length in characters, Unicode code points)."""
    run_id: str | None
    tool: ToolData | None = None
    metadata: dict[str, Any]
    """An assistant message's has its `agent_type`."""
    client_id: str | None = None
    """The device that sent a user message (null for the others)."""
    created_at: datetime


class Notice(BaseModel):
    """A run's `agent_switch`, `error` or `warning` event (its `data`), or its audio: `tts`
    `{"chunks", "final"}` (how many chunks were sent; the audio is not kept)."""

    type: Literal["agent_switch", "error", "warning", "tts"]
    data: dict[str, Any]


class ActiveRunDetail(ActiveRun):
    """The run in progress (as in the hello), with its notices so far."""

    notices: list[Notice] = Field(default_factory=list)
    """Its agent switches, errors, warnings and audio so far (as in `RunOutcome`)."""


class RunOutcome(BaseModel):
    """A run of the messages page: how it ended and what it showed besides its messages."""

    id: str
    message_id: str
    """The user message that asked for it."""
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    agent_type: str | None
    """The agent of its last event (null before its first)."""
    text: str
    """Its `token` events so far, concatenated: a cancelled or failed run's partial output;
    its first HISTORY_CONTENT_CHARS characters when `truncated`."""
    truncated: bool = False
    """`text` is cut: read the rest with `GET .../runs/{id}/text?offset=...`."""
    notices: list[Notice]


class SessionDetail(Session):
    messages: list[Message]
    runs: list[RunOutcome] = Field(default_factory=list)
    """The runs asked for by the user messages of `messages`, oldest first."""
    active_run: ActiveRunDetail | None
    queued_runs: int = 0
    """Runs waiting for the active one to end (`on_busy: enqueue`/`interrupt`)."""
    messages_before: int | None = None
    """Older messages exist: pass this as `before` for the page preceding `messages`."""


class SessionPage(BaseModel):
    items: list[Session]
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class Accepted(BaseModel):
    message_id: str
    run_id: str


class ToolDecision(_Strict):
    call_id: str = Field(pattern=NAME_PATTERN)
    """The `call_id` of a `tool_call` whose data has `"requires_approval": true`."""
    approve: bool
    reason: str | None = Field(default=None, max_length=500)
    """Why (shown to the model and every device with a denial)."""


class ToolDecisionAccepted(BaseModel):
    call_id: str
    approve: bool
    status: Literal["approved", "denied"]


class CancelAccepted(BaseModel):
    run_id: str


class Stats(BaseModel):
    user_id: str
    sessions: int
    active_sessions: int
    messages: int
    runs: int
    live_connections: int
    """The devices registered on the caller's active sessions (what MAX_DEVICES_PER_USER
    counts; a session's devices go with it when it ends)."""


class OpenDevice(_Strict):
    client_id: str = Field(default="default", pattern=NAME_PATTERN)


class DeviceAccess(BaseModel):
    """What a gateway needs to let a device in (no history: cheap on every connect)."""

    status: Literal["active", "ended"]
    mode: Literal["text", "voice"]
    agent_type: str
    active_run_id: str | None


MAX_DEVICE_CHECKS = 256
"""Most devices one `POST /internal/device-checks` asks about."""
MAX_CHECK_TOKEN_CHARS = 8192
"""Longest token a device check in a batch carries (a gateway asks about a longer one alone)."""
MAX_DEVICE_CHECKS_BYTES = MAX_DEVICE_CHECKS * (MAX_CHECK_TOKEN_CHARS + 1024)
"""The batch route's body limit (room for every device at the longest token)."""


class DeviceCheck(_Strict):
    """One device a gateway is about to let in: its caller's token, session and client id."""

    token: str = Field(min_length=1, max_length=MAX_CHECK_TOKEN_CHARS)
    session_id: str = Field(min_length=1, max_length=256)
    client_id: str = Field(default="default", pattern=NAME_PATTERN)


class DeviceChecks(_Strict):
    devices: list[DeviceCheck] = Field(min_length=1, max_length=MAX_DEVICE_CHECKS)


class IdleAt(BaseModel):
    """A session with no run in progress as of offset `position` of its shard stream `shard`
    (the last offset ingest had stored and folded, read in the same statement as the session):
    the catch-up answer `{"active_run": null, "position": position}`."""

    shard: int
    position: int


class DeviceCheckResult(BaseModel):
    """What `POST /ai/sessions/{id}/devices` would have answered this device: its status and
    body (`DeviceAccess`, or the error envelope); `idle_at` for a known device of an active
    session with no run in progress (the gateway then needs no catch-up request)."""

    status: int
    body: dict[str, Any]
    idle_at: IdleAt | None = None


class DeviceCheckResults(BaseModel):
    results: list[DeviceCheckResult]
    """One per asked device, in the order asked."""


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "down"]]
