"""The run request a run worker consumes (see docs/internals.md)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HistoryItem(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


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
    """Earlier turns, oldest first (optional; a model backend may use them)."""
