"""Typed events: the envelope every frame shares and the `data` of each event type.

One pydantic model per event type, told apart by the `type` literal; `EVENT_ADAPTER`
validates and parses the union. Unknown fields are rejected everywhere.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .ids import new_id


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenData(_Data):
    token: str
    """A fragment of the reply, as the model generated it."""


class ResponseData(_Data):
    content: str
    """The complete assistant reply."""
    message_id: str
    """Id of the assistant message stored in the conversation history."""


class ToolCallData(_Data):
    call_id: str
    tool_name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    requires_approval: bool = Field(default=False, exclude_if=lambda v: not v)
    """(Only when true.) The run waits for a `tool_decision` from a device of the session
    before it runs it."""
    approval_expires_at: datetime | None = Field(default=None, exclude_if=lambda v: v is None)
    """With `requires_approval`: when the call times out undecided (`approval_timeout`)."""


class ToolResultData(_Data):
    call_id: str
    tool_name: str
    result: Any = None
    """The tool's answer; absent when `error` is set."""
    error: str | None = None
    """Why the tool failed (bad parameters, timeout, unknown tool, `denied`,
    `approval_timeout`)."""
    reason: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """With `denied` / `approval_timeout`: why, in words (the denier's reason when given)."""


class StatusData(_Data):
    status: str
    """Short machine-readable status, e.g. `thinking`, `typing`, `waiting`."""
    message: str = ""
    """Human-readable text to show beside the indicator."""


class ProblemData(_Data):
    code: str
    """Stable machine-readable code, e.g. `tool_timeout`."""
    message: str


class TtsData(_Data):
    audio: str
    """Base64 of one chunk of audio."""
    format: str = "wav"
    chunk: int = Field(ge=0)
    final: bool = False


class SttData(_Data):
    text: str
    final: bool = False


class AgentSwitchData(_Data):
    from_: str = Field(alias="from")
    to: str
    reason: str = ""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SessionStartData(_Data):
    mode: Literal["text", "voice"] = "text"
    client_id: str | None = None


class SessionEndData(_Data):
    reason: str
    """`deleted`, `expired` or `ended`."""


class MessageData(_Data):
    content: str
    message_id: str
    client_id: str | None = None
    """The device that sent it, so that device can skip its own echo."""


class RunStartData(_Data):
    message_id: str | None = None


class UsageData(_Data):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class RunEndData(_Data):
    status: Literal["completed", "failed", "cancelled"]
    usage: UsageData | None = Field(default=None, exclude_if=lambda v: v is None)
    """Tokens the model reported for the whole run (all its turns); absent when the backend
    reports none (the stub, or a server that sends no usage)."""


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(default_factory=new_id)
    """Unique per event; clients dedupe on it."""
    session_id: str
    agent_type: str = "personal"
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    run_id: str | None = None
    """The run this event belongs to; null for session-level events."""
    seq: int | None = Field(default=None, ge=1)
    """1, 2, 3, ... within a run, with no holes."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class TokenEvent(_Envelope):
    type: Literal["token"] = "token"
    data: TokenData


class ResponseEvent(_Envelope):
    type: Literal["response"] = "response"
    data: ResponseData


class ToolCallEvent(_Envelope):
    type: Literal["tool_call"] = "tool_call"
    data: ToolCallData


class ToolResultEvent(_Envelope):
    type: Literal["tool_result"] = "tool_result"
    data: ToolResultData


class TtsEvent(_Envelope):
    type: Literal["tts"] = "tts"
    data: TtsData


class SttEvent(_Envelope):
    type: Literal["stt"] = "stt"
    data: SttData


class SessionStartEvent(_Envelope):
    type: Literal["session_start"] = "session_start"
    data: SessionStartData


class SessionEndEvent(_Envelope):
    type: Literal["session_end"] = "session_end"
    data: SessionEndData


class AgentSwitchEvent(_Envelope):
    type: Literal["agent_switch"] = "agent_switch"
    data: AgentSwitchData


class ThinkingEvent(_Envelope):
    type: Literal["thinking"] = "thinking"
    data: StatusData


class TypingEvent(_Envelope):
    type: Literal["typing"] = "typing"
    data: StatusData


class WaitingEvent(_Envelope):
    type: Literal["waiting"] = "waiting"
    data: StatusData


class ErrorEvent(_Envelope):
    type: Literal["error"] = "error"
    data: ProblemData


class WarningEvent(_Envelope):
    type: Literal["warning"] = "warning"
    data: ProblemData


class MessageEvent(_Envelope):
    type: Literal["message"] = "message"
    data: MessageData


class RunStartEvent(_Envelope):
    type: Literal["run_start"] = "run_start"
    data: RunStartData


class RunEndEvent(_Envelope):
    type: Literal["run_end"] = "run_end"
    data: RunEndData


EVENT_CLASSES: tuple[type[_Envelope], ...] = (
    TokenEvent,
    ResponseEvent,
    ToolCallEvent,
    ToolResultEvent,
    TtsEvent,
    SttEvent,
    SessionStartEvent,
    SessionEndEvent,
    AgentSwitchEvent,
    ThinkingEvent,
    TypingEvent,
    WaitingEvent,
    ErrorEvent,
    WarningEvent,
    MessageEvent,
    RunStartEvent,
    RunEndEvent,
)

Event = Annotated[
    TokenEvent
    | ResponseEvent
    | ToolCallEvent
    | ToolResultEvent
    | TtsEvent
    | SttEvent
    | SessionStartEvent
    | SessionEndEvent
    | AgentSwitchEvent
    | ThinkingEvent
    | TypingEvent
    | WaitingEvent
    | ErrorEvent
    | WarningEvent
    | MessageEvent
    | RunStartEvent
    | RunEndEvent,
    Field(discriminator="type"),
]
"""Any Switchboard event, told apart by `type`."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[str, ...] = tuple(cls.model_fields["type"].default for cls in EVENT_CLASSES)

_BY_TYPE: dict[str, type[_Envelope]] = dict(zip(EVENT_TYPES, EVENT_CLASSES, strict=True))

EventType = Literal[
    "token",
    "response",
    "tool_call",
    "tool_result",
    "tts",
    "stt",
    "session_start",
    "session_end",
    "agent_switch",
    "thinking",
    "typing",
    "waiting",
    "error",
    "warning",
    "message",
    "run_start",
    "run_end",
]


def make_event(event_type: str, data: dict[str, Any], **envelope: Any) -> Event:
    """Build and validate an event of `event_type` from plain data."""
    cls = _BY_TYPE.get(event_type)
    if cls is None:
        raise ValueError(f"unknown event type {event_type!r}; expected one of {EVENT_TYPES}")
    return cls.model_validate({"type": event_type, "data": data, **envelope})  # type: ignore[return-value]


def parse_event(raw: bytes | str) -> Event:
    """Parse one JSON event; raises pydantic.ValidationError naming the bad field."""
    return EVENT_ADAPTER.validate_json(raw)
