"""Switchboard's wire contract: every message that crosses a process boundary (events,
WebSocket frames, broker commands, the error envelope, close codes, the id rule), as pydantic
models. No broker or HTTP code: the SDK and every service import it.

Writers are strict (unknown fields refused), readers lenient (`read`, `read_json`,
`parse_event` ignore unknown fields; an unknown event type is an `UnknownEvent`).
"""

from .base import WireModel, dumps
from .closes import CLOSE_DESCRIPTIONS, FATAL_CLOSES, CloseCode
from .commands import (
    LIST_TOOLS,
    CatchUpReply,
    CatchUpRequest,
    HistoryItem,
    LeaseRenewal,
    LeaseReply,
    Release,
    RunCancel,
    RunRequest,
    ToolCallRequest,
    ToolCancel,
    ToolDecisionCommand,
    ToolListRequest,
    ToolReply,
)
from .cursor import CURSOR_PATTERN, Cursor, cursor_tag, parse_cursor
from .errors import ErrorBody, ErrorEnvelope
from .events import (
    EVENT_ADAPTER,
    EVENT_CLASSES,
    EVENT_TYPES,
    PERSISTED_TYPES,
    PROGRESS_TYPES,
    AnyEvent,
    Envelope,
    Event,
    UnknownEvent,
    make_event,
    parse_event,
)
from .frames import (
    CLIENT_FRAME_TYPES,
    INVALID_CURSOR,
    ClientFrame,
    ErrorFrame,
    HelloFrame,
    MessageAcceptedFrame,
    ServerFrame,
    ToolDecisionAcceptedFrame,
    error_frame,
)
from .ids import new_id
from .names import NAME_PATTERN, NAME_RE, NAME_RULE, InvalidName, Name, check_name, is_name
from .runs import ActiveRun, Run, TextPiece

__all__ = [
    "CLIENT_FRAME_TYPES",
    "CLOSE_DESCRIPTIONS",
    "CURSOR_PATTERN",
    "EVENT_ADAPTER",
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "FATAL_CLOSES",
    "INVALID_CURSOR",
    "LIST_TOOLS",
    "NAME_PATTERN",
    "NAME_RE",
    "NAME_RULE",
    "PERSISTED_TYPES",
    "PROGRESS_TYPES",
    "ActiveRun",
    "AnyEvent",
    "CatchUpReply",
    "CatchUpRequest",
    "ClientFrame",
    "CloseCode",
    "Cursor",
    "Envelope",
    "ErrorBody",
    "ErrorEnvelope",
    "ErrorFrame",
    "Event",
    "HelloFrame",
    "HistoryItem",
    "InvalidName",
    "LeaseRenewal",
    "LeaseReply",
    "MessageAcceptedFrame",
    "Name",
    "Release",
    "Run",
    "RunCancel",
    "RunRequest",
    "ServerFrame",
    "TextPiece",
    "ToolCallRequest",
    "ToolCancel",
    "ToolDecisionAcceptedFrame",
    "ToolDecisionCommand",
    "ToolListRequest",
    "ToolReply",
    "UnknownEvent",
    "WireModel",
    "check_name",
    "cursor_tag",
    "dumps",
    "error_frame",
    "is_name",
    "make_event",
    "new_id",
    "parse_cursor",
    "parse_event",
]
