"""What writes a plain reply: the `AgentBackend` protocol and the scripted default."""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from .request import HistoryItem


class BackendError(RuntimeError):
    """The model could not answer (unreachable, bad status, malformed stream)."""


class AgentBackend(Protocol):
    """Streams the tokens of a reply to `message`, given the conversation so far."""

    def stream(
        self, message: str, history: Sequence[HistoryItem], agent_type: str
    ) -> AsyncIterator[str]: ...


_OPENINGS = (
    "Good question.",
    "Happy to help with that.",
    "Let me think about that.",
    "Here is what I would suggest.",
)
_CLOSINGS = (
    "Tell me if you want more detail.",
    "Does that help?",
    "I can go deeper on any part of it.",
    "Let me know what you decide.",
)


def scripted_reply(message: str, agent_type: str) -> str:
    """A plausible reply that depends only on the message and the agent."""
    digest = hashlib.sha256(f"{agent_type}\0{message}".encode()).digest()
    topic = " ".join(message.split()[:8]) or "your message"
    return (
        f"{_OPENINGS[digest[0] % len(_OPENINGS)]} As your {agent_type} agent, about "
        f'"{topic}": I would start small, check the result, and adjust from there. '
        f"{_CLOSINGS[digest[1] % len(_CLOSINGS)]}"
    )


class ScriptedBackend:
    """The stub: a deterministic reply, streamed word by word at `word_delay_s`."""

    def __init__(self, word_delay_s: float) -> None:
        self._delay = word_delay_s

    async def stream(
        self, message: str, history: Sequence[HistoryItem], agent_type: str
    ) -> AsyncIterator[str]:
        words = scripted_reply(message, agent_type).split(" ")
        for i, word in enumerate(words):
            if i and self._delay:
                await asyncio.sleep(self._delay)
            yield word if i == len(words) - 1 else word + " "
