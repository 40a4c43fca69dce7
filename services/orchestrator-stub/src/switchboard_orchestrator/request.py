"""The run request a run worker consumes (see docs/internals.md)."""

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HistoryItem(BaseModel):
    """One earlier message: user and assistant text, or a tool call or result (`tool` then
    holds `kind` "call"|"result", `call_id`, `tool_name`, `parameters`|`result`|`error`)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool: dict[str, Any] | None = None


class RunRequest(BaseModel):
    """One message to answer; unknown fields are ignored so senders may add more."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    session_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    message_id: str | None = None
    user_id: str | None = None
    agent_type: str = "personal"
    mode: Literal["text", "voice"] = "text"
    content: str = ""
    audio_b64: str | None = None
    client_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    history: list[HistoryItem] = Field(default_factory=list)
    """The conversation before this message, oldest first (the session service cuts it to
    HISTORY_MAX_MESSAGES / HISTORY_MAX_CHARS)."""
    history_dropped: int = Field(default=0, ge=0)
    """How many older messages were left out of `history` (a `warning` says so)."""
    start_by: datetime | None = None
    """A request taken after this is not run: the session service ends it `no_worker`
    (RUN_START_TIMEOUT_S after it was sent)."""


_IDS = re.compile(
    rb'^\{\s*"run_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"\s*,\s*"session_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"'
)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def readable_ids(body: bytes) -> tuple[str, str] | None:
    """`(session_id, run_id)` of a request that does not validate, when they can still be read:
    from its top level when it parses as JSON, else from its first bytes (the session service
    writes `run_id` and `session_id` first), so a request too deep to parse is still failed."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        found = _IDS.match(body[:512])
        return (found[2].decode(), found[1].decode()) if found else None
    if not isinstance(request, dict):
        return None
    session_id, run_id = request.get("session_id"), request.get("run_id")
    ids = (session_id, run_id)
    if all(isinstance(value, str) and _ID.fullmatch(value) for value in ids):
        return str(session_id), str(run_id)
    return None
