"""What one run works with, and the small steps every directive shares."""

from dataclasses import dataclass, field
from typing import Any

from switchboard_events import RunStream
from switchboard_protocol import RunRequest, new_id

from .agents import Agent, Agents
from .approval import APPROVAL_TIMEOUT_S, Approvals
from .backend import AgentBackend, Usage
from .cancellation import RunControl
from .limits import RunLimits
from .speaker import Speaker
from .tool_catalog import ToolCatalog
from .tool_client import ToolClient
from .voice import Voice, default_voice


class RunFailed(Exception):
    """The run ends `failed` after an `error` event with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RunContext:
    request: RunRequest
    stream: RunStream
    control: RunControl
    tools: ToolClient
    agents: Agents
    """Every agent type (AGENTS); the run is the one its stream's `agent_type` names."""
    worker_id: str = ""
    """Who runs it (in `run_start`'s metadata, for operators and tests)."""
    limits: RunLimits = field(default_factory=RunLimits)
    approvals: Approvals = field(default_factory=lambda: Approvals(APPROVAL_TIMEOUT_S))
    """The worker's calls waiting for a human decision (approval.py)."""
    catalog: ToolCatalog | None = None
    """The tools offered to a model that calls tools (None: none offered)."""
    usage: Usage | None = None
    """Tokens the model reported for this run so far (in `run_end`'s `usage`)."""
    voice: Voice = field(default_factory=default_voice)
    """Speech to text and text to speech (voice.py; the worker's, shared by its runs)."""
    _speaker: Speaker | None = field(default=None, init=False)
    """The reply being spoken as it is generated (voice sessions)."""

    @property
    def agent(self) -> Agent:
        """The agent answering now (an `agent_switch` changes it mid-run)."""
        return self.agents.get(self.stream.agent_type)

    @property
    def backend(self) -> AgentBackend:
        return self.agent.backend

    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """The run's next event, unless the run was cancelled (then RunCancelled)."""
        self.control.check()
        await self.stream.emit(event_type, data)

    async def status(self, event_type: str, status: str, message: str) -> None:
        await self.emit(event_type, {"status": status, "message": message})

    async def token(self, text: str) -> None:
        """A `token` of the reply; in a voice session its sentences are spoken as they end."""
        await self.emit("token", {"token": text})
        if self.request.mode == "voice":
            self._speaking().feed(text)

    async def respond(self, content: str, *, spoken: bool = False) -> None:
        """The `response`. In a voice session it is spoken first, unless it already was: the
        rest of what its tokens said, else all of it."""
        if self.request.mode == "voice" and not spoken and content:
            if self._speaker is None:
                self._speaking().feed(content)
            await self._finish_speech()
        await self.emit("response", {"content": content, "message_id": new_id()})

    async def speak(self, text: str) -> None:
        """`tts` events for `text`: one WAV file per sentence (or clause of a long one), chunk
        0..n, final on the last, each synthesised as the one before it is sent. At most
        `max_tts_chars` are spoken; a `warning` `tts_truncated` follows when the text was
        longer (the `response` still carries all of it)."""
        self._speaking().feed(text)
        await self._finish_speech()

    def _speaking(self) -> Speaker:
        if self._speaker is None:
            guard = self.control.guard
            limit = self.limits.max_tts_chars
            self._speaker = Speaker(self.voice.tts, self.emit, guard, limit)
        return self._speaker

    async def _finish_speech(self) -> None:
        speaker = self._speaking()
        try:
            await speaker.finish()
        finally:
            await speaker.close()
            self._speaker = None

    async def close(self) -> None:
        """Stop what still runs for this run (speech being synthesised)."""
        if self._speaker is not None:
            await self._speaker.close()
            self._speaker = None
