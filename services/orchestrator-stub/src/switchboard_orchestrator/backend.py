"""What writes a reply: the `AgentBackend` protocol, what one model turn yields, the stub.

A turn is one request to the model: it gets the conversation (OpenAI chat messages) and the
tools on offer, and yields text fragments (`str`), `Retrying` while it waits out an upstream
failure, `Emit` for an event the agent's own work makes (an AG-UI agent's tool calls, state,
steps), and at most one `TurnEnd` last (the tool calls the model asked for, the usage, what a
paused agent waits for).
"""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]
"""One OpenAI chat message (`role`, `content`, `tool_calls`, `tool_call_id`)."""


class BackendError(RuntimeError):
    """The model could not answer (unreachable, bad status, malformed stream); the run fails
    with an `error` of this `code`."""

    def __init__(self, message: str, code: str = "model_error") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ModelToolCall:
    """One function call the model asked for: its name and its raw JSON arguments."""

    name: str
    arguments: str
    call_id: str | None = None
    """The model's id for the call when the next request must name it (AG-UI); else None."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Retrying:
    """The model failed in a way worth retrying; the next attempt starts after `delay_s`."""

    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True)
class Emit:
    """An event the backend's agent made itself, published as it is (`state`, `thinking`,
    `warning`, the `tool_call` and `tool_result` of a tool the agent ran)."""

    event_type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Interrupt:
    """The agent paused for a human answer (an AG-UI interrupt): asked as a `tool_call` that
    requires approval; the decision resumes the agent in the next turn."""

    interrupt_id: str
    call_id: str
    tool_name: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class TurnEnd:
    tool_calls: list[ModelToolCall] = field(default_factory=list)
    usage: Usage | None = None
    transcript: list["Message"] = field(default_factory=list)
    """What the agent did this turn that the next request must carry (its own tool calls and
    their results), as chat messages."""
    interrupts: list[Interrupt] = field(default_factory=list)


@dataclass(frozen=True)
class TurnInput:
    """What a turn is about besides the conversation: the session (AG-UI `threadId`), the run
    (`runId`), the answers to the interrupts that paused the agent (AG-UI `resume`) and the
    agent's instructions (the system message)."""

    session_id: str = ""
    run_id: str = ""
    resume: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, dict[str, str]] = field(default_factory=dict)
    """Paused calls a human refused (call id → `{"error", "reason"}`): what the agent then
    reports for them is published as that error."""
    instructions: str = ""


Chunk = str | Retrying | Emit | TurnEnd


class AgentBackend(Protocol):
    offers_tools: bool
    """Whether the run offers the tool workers' tools to this backend."""
    offers_transfers: bool
    """Whether the run offers the other agents (AGENTS) as `transfer_to_<name>` tools."""

    def turn(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        agent_type: str,
        *,
        final: bool = False,
        about: TurnInput = TurnInput(),
    ) -> AsyncIterator[Chunk]:
        """One model turn; `final` asks for an answer without tool calls."""
        ...


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


def last_user_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


class ScriptedBackend:
    """The stub: a deterministic reply to the last user message, word by word at
    `word_delay_s` (it receives the conversation, and calls no tools)."""

    offers_tools = False
    offers_transfers = False

    def __init__(self, word_delay_s: float) -> None:
        self._delay = word_delay_s

    async def turn(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        agent_type: str,
        *,
        final: bool = False,
        about: TurnInput = TurnInput(),
    ) -> AsyncIterator[Chunk]:
        words = scripted_reply(last_user_text(messages), agent_type).split(" ")
        for i, word in enumerate(words):
            if i and self._delay:
                await asyncio.sleep(self._delay)
            yield word if i == len(words) - 1 else word + " "
