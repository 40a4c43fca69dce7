"""Switchboard's Python client: REST calls and a resumable, deduplicated event stream."""

from .backoff import Backoff
from .client import DEFAULT_URL, SwitchboardClient
from .errors import (
    ApiError,
    AuthFailed,
    Busy,
    GatewayUnreachable,
    NotFound,
    RateLimited,
    Replaced,
    SessionEnded,
    SessionNotFound,
    StreamClosed,
    SwitchboardError,
    Unauthorized,
)
from .notices import ReloadNotice, RunCatchUp
from .options import StreamOptions
from .stream import EventStream, Item
from .voice import join_tts, send_audio

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "AuthFailed",
    "Backoff",
    "Busy",
    "EventStream",
    "GatewayUnreachable",
    "Item",
    "NotFound",
    "RateLimited",
    "ReloadNotice",
    "Replaced",
    "RunCatchUp",
    "SessionEnded",
    "SessionNotFound",
    "StreamClosed",
    "StreamOptions",
    "SwitchboardClient",
    "SwitchboardError",
    "Unauthorized",
    "join_tts",
    "send_audio",
]
