"""Settings of the run worker and the tool worker (environment variables, read once)."""

import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from switchboard_events import BrokerSettings
from switchboard_runtime import RuntimeSettings

from . import limits
from .agent_config import AGENT_NAME_PATTERN, AgentConfig, read_agents
from .approval import APPROVAL_TIMEOUT_S, Approvals
from .limits import RunLimits
from .tool_rpc import MAX_TOOL_CALLS_PER_USER
from .tools.mcp_config import McpServerConfig

AgentName = Annotated[str, StringConstraints(pattern=AGENT_NAME_PATTERN)]


class StubSettings(BaseSettings):
    """The scripted agent's pacing and caps (`MODEL_BACKEND=stub`, directives): development
    and tests, not production; docs/configuration.md lists them apart."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")
    STUB_ONLY: ClassVar[bool] = True

    word_delay_s: float = Field(default=0.05, ge=0, alias="WORD_DELAY_S")
    """Pause between the words of a scripted reply (tests shorten it)."""
    stub_max_sleep_s: float = Field(default=limits.STUB_MAX_SLEEP_S, ge=0, alias="STUB_MAX_SLEEP_S")
    """Longest `/sleep` the stub accepts (`limit_exceeded` beyond)."""
    stub_max_tokens: int = Field(default=limits.STUB_MAX_TOKENS, ge=0, alias="STUB_MAX_TOKENS")
    """Most tokens one `/tokens` may ask for (`limit_exceeded` beyond)."""


class StubToolSettings(BaseSettings):
    """The built-in test tools' knobs (the `slow` tool): development and tests only."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")
    STUB_ONLY: ClassVar[bool] = True

    slow_max_s: float = Field(default=15.0, ge=0, alias="SLOW_MAX_S")
    """Longest sleep the `slow` tool accepts (above TOOL_TIMEOUT_S, for timeouts)."""


class WorkerSettings(BrokerSettings, RuntimeSettings, StubSettings):
    """The run worker: broker settings plus pacing, timeouts and the model backend."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    OPERATOR: ClassVar[frozenset[str]] = frozenset(
        {
            "MODEL_BACKEND",
            "OPENAI_BASE_URL",
            "OPENAI_API_KEY",
            "OPENAI_MODEL",
            "AGUI_URL",
            "AGENTS",
            "APPROVAL_REQUIRED_TOOLS",
            "MAX_RUN_S",
        }
    )
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    run_prefetch: int = Field(default=32, ge=1, le=1000, alias="RUN_PREFETCH")
    """Run requests one process holds (and runs) at once. Runs mostly wait (model, tools,
    pacing) and use no CPU meanwhile, so a slot is cheap: keep this well above
    MAX_ACTIVE_RUNS_PER_USER, so a few users at their limit leave slots for everyone else."""
    tool_timeout_s: float = Field(default=10.0, gt=0, alias="TOOL_TIMEOUT_S")
    """How long a run waits for a tool result before `{"error": "timeout"}`."""
    shutdown_grace_s: float = Field(default=10.0, ge=0, alias="SHUTDOWN_GRACE_S")
    """On SIGTERM, how long active runs may finish before they are cancelled."""
    cancel_memory_s: float = Field(default=600.0, gt=0, alias="CANCEL_MEMORY_S")
    """How long a cancel is remembered for a run that has not started yet."""
    model_backend: Literal["stub", "openai", "agui"] = Field(default="stub", alias="MODEL_BACKEND")
    """`stub` (scripted agent), `openai` (any OpenAI-compatible endpoint, through the
    official `openai` SDK, with the tool workers' tools offered as function tools) or `agui`
    (any AG-UI agent at AGUI_URL, the tool workers' tools offered as frontend tools)."""
    agui_url: str | None = Field(default=None, alias="AGUI_URL")
    """The AG-UI agent's endpoint (`MODEL_BACKEND=agui`): each turn POSTs a `RunAgentInput`
    there and reads the `text/event-stream` it answers."""
    agui_timeout_s: float = Field(default=60.0, gt=0, alias="AGUI_TIMEOUT_S")
    """Timeout of one AG-UI request (connect, and each wait for the next event)."""
    agents: Annotated[dict[AgentName, AgentConfig], NoDecode] = Field(
        default_factory=dict, alias="AGENTS"
    )
    """Each agent type, as JSON (or the path of a JSON file): `{"name": {"backend", "model",
    "url", "instructions", "tools", "description"}}`, every field optional. `instructions` are
    the system message; `tools` the tools it may use (unset: all); with `openai` every other
    agent is offered as a `transfer_to_<name>` tool (`agent_switch`). Agent types not listed
    use MODEL_BACKEND with no instructions and every tool."""

    @field_validator("agents", mode="before")
    @classmethod
    def _agents_json(cls, value: Any) -> Any:
        return read_agents(value)

    directives: bool | None = Field(default=None, alias="DIRECTIVES")
    """Whether messages starting with `/tokens`, `/tool`, `/approve`, `/sleep`, `/speak`,
    `/agent` or `/error` run as the stub's directives. Unset: only with `MODEL_BACKEND=stub`;
    with a model they are plain text sent to it (a directive would let any user call any tool
    with any parameters, bypassing the model). `true` enables them with a model too: for
    development only."""
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    """Base URL of the OpenAI-compatible API (e.g. `http://127.0.0.1:11434/v1`)."""
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    """Bearer key for that API."""
    openai_model: str = Field(default="gpt-4o-mini", alias="OPENAI_MODEL")
    """Model name sent in each request."""
    openai_timeout_s: float = Field(default=60.0, gt=0, alias="OPENAI_TIMEOUT_S")
    """Timeout of one model request (connect, and each wait for the next chunk)."""
    max_run_s: float = Field(default=limits.MAX_RUN_S, gt=0, alias="MAX_RUN_S")
    """A run still going after this long ends with `error` `run_timeout` and `run_end` failed;
    a directive that would take longer is refused up front."""
    max_tts_chars: int = Field(default=limits.MAX_TTS_CHARS, ge=1, alias="MAX_TTS_CHARS")
    """Most characters spoken per reply: `/speak` refuses more, a longer voice reply is spoken
    up to this and a `warning` `tts_truncated` says so."""

    stt_backend: Literal["pocketsphinx", "openai"] = Field(
        default="pocketsphinx", alias="STT_BACKEND"
    )
    """Speech to text: `pocketsphinx` (offline, the English model its wheel ships) or `openai`
    (`audio.transcriptions` of the OpenAI-compatible server at OPENAI_BASE_URL)."""
    stt_decoders: int = Field(default=2, ge=1, le=64, alias="STT_DECODERS")
    """Utterances one worker decodes at once with pocketsphinx (a decoder each, its model
    loaded once, ~0.7 s); more wait for a free one."""
    stt_openai_model: str = Field(default="whisper-1", alias="STT_OPENAI_MODEL")
    """Model name of `audio.transcriptions` requests (STT_BACKEND=openai)."""
    stt_openai_stream: bool = Field(default=False, alias="STT_OPENAI_STREAM")
    """Ask the server to stream its transcript (`stream=True`; its deltas become partial
    `stt` events). Off: one final `stt` event (whisper servers do not stream)."""
    tts_backend: Literal["espeak-ng", "openai"] = Field(default="espeak-ng", alias="TTS_BACKEND")
    """Text to speech: `espeak-ng` (the program, Debian package `espeak-ng`) or `openai`
    (`audio.speech` of the OpenAI-compatible server at OPENAI_BASE_URL)."""
    espeak_voice: str = Field(
        default="en-us", pattern=r"^[A-Za-z0-9][A-Za-z0-9_+-]*$", alias="ESPEAK_VOICE"
    )
    """espeak-ng voice (`espeak-ng --voices` lists them)."""
    tts_openai_model: str = Field(default="tts-1", alias="TTS_OPENAI_MODEL")
    """Model name of `audio.speech` requests (TTS_BACKEND=openai)."""
    tts_openai_voice: str = Field(default="alloy", alias="TTS_OPENAI_VOICE")
    """Voice of `audio.speech` requests (TTS_BACKEND=openai)."""
    tts_processes: int = Field(default=4, ge=1, le=256, alias="TTS_PROCESSES")
    """Syntheses one worker runs at once (espeak-ng processes or speech requests); a voice
    reply speaks one sentence at a time, so this many replies are spoken side by side."""

    approval_timeout_s: float = Field(default=APPROVAL_TIMEOUT_S, gt=0, alias="APPROVAL_TIMEOUT_S")
    """How long a tool call that needs approval waits for a `tool_decision` before its result
    is `{"error": "approval_timeout"}` (capped by MAX_RUN_S)."""
    approval_required_tools: str = Field(default="", alias="APPROVAL_REQUIRED_TOOLS")
    """Comma-separated tool names that always wait for a human `tool_decision` (as `/approve`
    does), e.g. `send_email,delete_file`."""

    @property
    def approvals(self) -> Approvals:
        names = (name.strip() for name in self.approval_required_tools.split(","))
        return Approvals(self.approval_timeout_s, frozenset(filter(None, names)))

    max_tool_steps: int = Field(default=limits.MAX_TOOL_STEPS, ge=0, le=100, alias="MAX_TOOL_STEPS")
    """Model turns of one run that may call tools (parallel calls of one turn count once);
    after that a `warning` `tool_steps_exhausted` and the model must answer without tools."""
    model_max_retries: int = Field(default=3, ge=0, le=20, alias="MODEL_MAX_RETRIES")
    """Retries of a model request answered 408/409/429/5xx or unreachable, each announced by
    a `warning` `model_retry`; then `error` `model_error`."""
    model_retry_base_s: float = Field(default=1.0, ge=0, alias="MODEL_RETRY_BASE_S")
    """First retry's pause, doubled each time (a `Retry-After` from the server wins)."""
    model_retry_max_s: float = Field(default=30.0, ge=0, alias="MODEL_RETRY_MAX_S")
    """Longest pause between two model retries (also caps `Retry-After`)."""
    run_lease_renew_s: float = Field(default=3.0, gt=0, alias="RUN_LEASE_RENEW_S")
    """How often the worker renews the leases of its runs; a third of the shortest lease it
    holds when that is sooner (each run request carries the session service's RUN_LEASE_S,
    so a renewal or two may be lost without losing the lease)."""
    tool_list_ttl_s: float = Field(default=10.0, ge=0, alias="TOOL_LIST_TTL_S")
    """How long the tool workers' tool list is reused before it is asked for again."""

    @property
    def run_limits(self) -> RunLimits:
        return RunLimits(
            self.max_run_s,
            self.stub_max_sleep_s,
            self.stub_max_tokens,
            self.max_tts_chars,
            self.max_tool_steps,
            self.directives_enabled,
        )

    @property
    def directives_enabled(self) -> bool:
        """DIRECTIVES when set, else whether the backend is the stub."""
        return self.model_backend == "stub" if self.directives is None else self.directives

    @model_validator(mode="after")
    def _openai_needs_url(self) -> "WorkerSettings":
        if self.openai_base_url:
            return self
        for name, value in [
            ("MODEL_BACKEND", self.model_backend),
            ("STT_BACKEND", self.stt_backend),
            ("TTS_BACKEND", self.tts_backend),
        ]:
            if value == "openai":
                raise ValueError(f"{name}=openai needs OPENAI_BASE_URL")
        return self

    @model_validator(mode="after")
    def _agui_needs_url(self) -> "WorkerSettings":
        if self.model_backend == "agui" and not self.agui_url:
            raise ValueError("MODEL_BACKEND=agui needs AGUI_URL (the AG-UI agent's endpoint)")
        for name, agent in self.agents.items():
            backend = agent.backend or self.model_backend
            if backend == "agui" and not (agent.url or self.agui_url):
                raise ValueError(f"AGENTS: {name!r} has backend agui and no url (nor AGUI_URL)")
            if backend == "openai" and not self.openai_base_url:
                raise ValueError(f"AGENTS: {name!r} has backend openai: it needs OPENAI_BASE_URL")
        return self


class ToolSettings(BrokerSettings, RuntimeSettings, StubToolSettings):
    """The tool worker: broker settings plus its concurrency."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    OPERATOR: ClassVar[frozenset[str]] = frozenset({"MCP_SERVERS"})
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    tool_prefetch: int = Field(default=16, ge=1, le=1000, alias="TOOL_PREFETCH")
    """Tool calls one process runs at once."""
    max_tool_calls_per_user: int = Field(
        default=MAX_TOOL_CALLS_PER_USER, ge=1, alias="MAX_TOOL_CALLS_PER_USER"
    )
    """Tool calls of one user one process runs at once; more are answered at once with the
    error `too_many_tool_calls` (keep it below TOOL_PREFETCH so others always find a slot)."""
    mcp_servers: list[McpServerConfig] = Field(default_factory=list, alias="MCP_SERVERS")
    """MCP servers whose tools this worker serves next to the built-ins, as JSON: a list of
    `{"name", "command", "args"?, "env"?}` (stdio) or `{"name", "url"}` (streamable HTTP);
    `"requires_approval": true` makes every tool of that server wait for a `tool_decision`."""

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _servers_json(cls, value: Any) -> Any:
        """MCP_SERVERS is JSON text in the environment (and may be passed as text)."""
        return json.loads(value) if isinstance(value, str) else value

    mcp_connect_timeout_s: float = Field(default=30.0, ge=0, alias="MCP_CONNECT_TIMEOUT_S")
    """How long the tool worker waits at start for each MCP server's first connection before
    it serves without it (it keeps trying in the background)."""
    mcp_retry_s: float = Field(default=2.0, gt=0, alias="MCP_RETRY_S")
    """Pause between attempts to (re)connect an MCP server that is down."""
    mcp_health_s: float = Field(default=5.0, gt=0, alias="MCP_HEALTH_S")
    """How often a connected MCP server is checked (and its tool list refreshed)."""
