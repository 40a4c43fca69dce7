"""Settings of the run worker and the tool worker (environment variables, read once)."""

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict
from switchboard_events import BrokerSettings


class WorkerSettings(BrokerSettings):
    """The run worker: broker settings plus pacing, timeouts and the model backend."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    run_prefetch: int = Field(default=8, ge=1, le=1000, alias="RUN_PREFETCH")
    """Run requests one process holds (and runs) at once."""
    tool_timeout_s: float = Field(default=10.0, gt=0, alias="TOOL_TIMEOUT_S")
    """How long a run waits for a tool result before `{"error": "timeout"}`."""
    shutdown_grace_s: float = Field(default=10.0, ge=0, alias="SHUTDOWN_GRACE_S")
    """On SIGTERM, how long active runs may finish before they are cancelled."""
    word_delay_s: float = Field(default=0.05, ge=0, alias="WORD_DELAY_S")
    """Pause between the words of a plain reply (0 in tests)."""
    cancel_memory_s: float = Field(default=600.0, gt=0, alias="CANCEL_MEMORY_S")
    """How long a cancel is remembered for a run that has not started yet."""
    model_backend: Literal["stub", "openai"] = Field(default="stub", alias="MODEL_BACKEND")
    """`stub` (scripted agent) or `openai` (any OpenAI-compatible streaming endpoint)."""
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    """Base URL of the OpenAI-compatible API (e.g. `http://127.0.0.1:11434/v1`)."""
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    """Bearer key for that API."""
    openai_model: str = Field(default="gpt-4o-mini", alias="OPENAI_MODEL")
    """Model name sent in each request."""
    openai_timeout_s: float = Field(default=60.0, gt=0, alias="OPENAI_TIMEOUT_S")
    """Timeout of one streaming request."""

    @model_validator(mode="after")
    def _openai_needs_url(self) -> "WorkerSettings":
        if self.model_backend == "openai" and not self.openai_base_url:
            raise ValueError("MODEL_BACKEND=openai needs OPENAI_BASE_URL")
        return self


class ToolSettings(BrokerSettings):
    """The tool worker: broker settings plus its concurrency."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    tool_prefetch: int = Field(default=16, ge=1, le=1000, alias="TOOL_PREFETCH")
    """Tool calls one process runs at once."""
    slow_max_s: float = Field(default=60.0, ge=0, alias="SLOW_MAX_S")
    """Longest sleep the `slow` tool accepts."""
