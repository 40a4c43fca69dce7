"""What one run works with, and the small steps every directive shares."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from switchboard_events import RunStream
from switchboard_protocol import RunRequest, new_id

from .approval import APPROVAL_TIMEOUT_S, Approvals
from .audio import clip, speech_groups, synthesize_b64
from .backend import AgentBackend, Usage
from .cancellation import RunControl
from .limits import RunLimits
from .tool_catalog import ToolCatalog
from .tool_client import ToolClient


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
    backend: AgentBackend
    worker_id: str = ""
    """Who runs it (in `run_start`'s metadata, for operators and tests)."""
    limits: RunLimits = field(default_factory=RunLimits)
    approvals: Approvals = field(default_factory=lambda: Approvals(APPROVAL_TIMEOUT_S))
    """The worker's calls waiting for a human decision (approval.py)."""
    catalog: ToolCatalog | None = None
    """The tools offered to a model that calls tools (None: none offered)."""
    usage: Usage | None = None
    """Tokens the model reported for this run so far (in `run_end`'s `usage`)."""

    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """The run's next event, unless the run was cancelled (then RunCancelled)."""
        self.control.check()
        await self.stream.emit(event_type, data)

    async def status(self, event_type: str, status: str, message: str) -> None:
        await self.emit(event_type, {"status": status, "message": message})

    async def respond(self, content: str, *, spoken: bool = False) -> None:
        """The `response` (spoken first in voice sessions unless it already was)."""
        if self.request.mode == "voice" and not spoken and content:
            await self.speak(content)
        await self.emit("response", {"content": content, "message_id": new_id()})

    async def speak(self, text: str) -> None:
        """`tts` events: one small WAV file per few words, chunk 0..n, final on the last.

        Each chunk is synthesized in a thread as it is sent (the event loop keeps serving
        other runs). At most `max_tts_chars` are spoken; a `warning` `tts_truncated` follows
        when the text was longer (the `response` still carries all of it)."""
        limit = self.limits.max_tts_chars
        spoken = clip(text.strip(), limit)
        groups = speech_groups(spoken)
        for number, group in enumerate(groups):
            audio = await self.control.guard(asyncio.to_thread(synthesize_b64, group))
            data = {"audio": audio, "format": "wav", "chunk": number}
            await self.emit("tts", {**data, "final": number == len(groups) - 1})
        if len(spoken) < len(text.strip()):
            message = f"the spoken reply was cut at {limit} characters (MAX_TTS_CHARS)"
            await self.emit("warning", {"code": "tts_truncated", "message": message})
