"""Events: the envelope every event shares and the `data` of each event type.

One model per event type, told apart by the `type` literal (the `Event` union is discriminated
on it). Its class says where the broker routes it (`stored`, `run_progress`): the routing lists
below derive from the classes, so a new event type is one class here and one line in
`EVENT_CLASSES`. Writers (`make_event`, constructors) refuse unknown fields and types; the
reader, `parse_event`, ignores unknown fields and reads an unknown `type` as an `UnknownEvent`.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from .base import WireModel
from .ids import new_id


class _Data(WireModel):
    pass


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
    """What was heard so far (the whole utterance when `final`)."""
    final: bool = False
    duration_s: float | None = None
    """Seconds of audio heard so far (the utterance's true length when `final`)."""


class AgentSwitchData(_Data):
    from_: str = Field(alias="from")
    to: str
    reason: str = ""


class StateData(_Data):
    """An agent's shared state: exactly one of `snapshot` (the whole state) and `delta` (a
    JSON Patch, RFC 6902, to apply to the state as last known). AG-UI's `STATE_SNAPSHOT` and
    `STATE_DELTA`."""

    snapshot: Any = Field(default=None, exclude_if=lambda v: v is None)
    """(Only in a snapshot.) The whole state, any JSON value but null."""
    delta: list[dict[str, Any]] | None = Field(default=None, exclude_if=lambda v: v is None)
    """(Only in a delta.) JSON Patch operations (`{"op", "path", "value"?, "from"?}`)."""

    @model_validator(mode="after")
    def _one_of(self) -> "StateData":
        if (self.snapshot is None) == (self.delta is None):
            raise ValueError("a state event has exactly one of snapshot and delta")
        return self


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


class Envelope(WireModel):
    """The fields every event has; `type` and `data` are its subclass's."""

    stored: ClassVar[bool] = False
    """The session service stores events of this type (read from the streams)."""
    run_progress: ClassVar[bool] = False
    """A run publishes this type: the session service folds it into the catch-up state."""

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
    cursor: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """The event's position (opaque; send it back on reconnect to resume after it). Set by the
    gateway on delivery; absent on the streams and in stored history."""


class TokenEvent(Envelope):
    """A fragment of the reply, as the model generates it."""

    type: Literal["token"] = "token"
    run_progress = True
    data: TokenData


class ResponseEvent(Envelope):
    """The complete assistant reply, stored in the conversation."""

    type: Literal["response"] = "response"
    stored = True
    run_progress = True
    data: ResponseData


class ToolCallEvent(Envelope):
    """The run calls a tool (with `requires_approval`, it waits for a decision)."""

    type: Literal["tool_call"] = "tool_call"
    stored = True
    run_progress = True
    data: ToolCallData


class ToolResultEvent(Envelope):
    """A tool's answer, or why there is none."""

    type: Literal["tool_result"] = "tool_result"
    stored = True
    run_progress = True
    data: ToolResultData


class TtsEvent(Envelope):
    """One chunk of the spoken reply (voice sessions)."""

    type: Literal["tts"] = "tts"
    run_progress = True
    data: TtsData


class SttEvent(Envelope):
    """Text heard in a device's audio (voice sessions)."""

    type: Literal["stt"] = "stt"
    data: SttData
    stored = True  # the final text becomes the utterance's message


class SessionStartEvent(Envelope):
    """The session was created."""

    type: Literal["session_start"] = "session_start"
    stored = True
    data: SessionStartData


class SessionEndEvent(Envelope):
    """The session ended; its sockets close 4410 right after this event."""

    type: Literal["session_end"] = "session_end"
    stored = True
    data: SessionEndData


class AgentSwitchEvent(Envelope):
    """Another agent takes over."""

    type: Literal["agent_switch"] = "agent_switch"
    stored = True
    run_progress = True
    data: AgentSwitchData


class StateEvent(Envelope):
    """The agent's shared state changed (a snapshot, or a JSON Patch delta)."""

    type: Literal["state"] = "state"
    run_progress = True
    data: StateData


class ThinkingEvent(Envelope):
    """The run is thinking (an indicator to show)."""

    type: Literal["thinking"] = "thinking"
    run_progress = True
    data: StatusData


class TypingEvent(Envelope):
    """A device of the session is typing (`metadata.client_id` says which)."""

    type: Literal["typing"] = "typing"
    data: StatusData


class WaitingEvent(Envelope):
    """The run waits (for a tool, a timer)."""

    type: Literal["waiting"] = "waiting"
    run_progress = True
    data: StatusData


class ErrorEvent(Envelope):
    """A run failed, or a problem to show."""

    type: Literal["error"] = "error"
    stored = True
    run_progress = True
    data: ProblemData


class WarningEvent(Envelope):
    """Something worth knowing that did not stop the run."""

    type: Literal["warning"] = "warning"
    run_progress = True
    data: ProblemData


class MessageEvent(Envelope):
    """A user message, echoed to the session's devices."""

    type: Literal["message"] = "message"
    data: MessageData


class RunStartEvent(Envelope):
    """A run starts: the first event of every run (`seq` 1)."""

    type: Literal["run_start"] = "run_start"
    stored = True
    run_progress = True
    data: RunStartData


class RunEndEvent(Envelope):
    """A run ended: the last event of every run."""

    type: Literal["run_end"] = "run_end"
    stored = True
    run_progress = True
    data: RunEndData


EVENT_CLASSES: tuple[type[Envelope], ...] = (
    TokenEvent,
    ResponseEvent,
    ToolCallEvent,
    ToolResultEvent,
    TtsEvent,
    SttEvent,
    SessionStartEvent,
    SessionEndEvent,
    AgentSwitchEvent,
    StateEvent,
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
    | StateEvent
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

_BY_TYPE: dict[str, type[Envelope]] = dict(zip(EVENT_TYPES, EVENT_CLASSES, strict=True))

PERSISTED_TYPES: tuple[str, ...] = tuple(
    c.model_fields["type"].default for c in EVENT_CLASSES if c.stored
)
"""Event types the session service stores (never the token firehose)."""

PROGRESS_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].default for cls in EVENT_CLASSES if cls.run_progress
)
"""Event types of a run that the run-progress queue folds into its catch-up state: every type a
run publishes, so that the state's `seq` covers the run without holes."""


class UnknownEvent(Envelope):
    """What a reader makes of an event whose `type` it does not know (a newer publisher's):
    the envelope, with `data` as plain JSON. Never written."""

    type: str
    data: dict[str, Any] = Field(default_factory=dict)


AnyEvent = Event | UnknownEvent
"""What `parse_event` returns."""


def make_event(event_type: str, data: dict[str, Any], **envelope: Any) -> Event:
    """Build and validate an event of `event_type` from plain data; unknown types and fields
    are refused (ValueError / pydantic.ValidationError)."""
    cls = _BY_TYPE.get(event_type)
    if cls is None:
        raise ValueError(f"unknown event type {event_type!r}; expected one of {EVENT_TYPES}")
    return cls.model_validate({"type": event_type, "data": data, **envelope})  # type: ignore[return-value]


def parse_event(raw: bytes | str) -> AnyEvent:
    """Parse one JSON event, ignoring fields this version does not know; an unknown `type` is
    an `UnknownEvent`. Raises pydantic.ValidationError naming the bad field."""
    try:
        return EVENT_ADAPTER.validate_json(raw, extra="ignore")
    except ValidationError as exc:
        if exc.errors()[0]["type"] != "union_tag_invalid":
            raise
        return UnknownEvent.read_json(raw)
