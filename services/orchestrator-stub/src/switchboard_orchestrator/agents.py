"""The agents a run can be: each agent type's backend, instructions and tools (AGENTS), and
the transfer tools through which a model hands the conversation to another agent.

An agent type AGENTS does not list is the default agent: MODEL_BACKEND, no instructions, every
tool. With a backend that `offers_transfers` (openai), every other listed agent is offered as
a function `transfer_to_<name>`; calling it emits `agent_switch` and the run goes on as that
agent (agent.py).
"""

from dataclasses import dataclass
from typing import Any

from .agent_config import TRANSFER_PREFIX
from .backend import AgentBackend


@dataclass(frozen=True)
class Agent:
    name: str
    backend: AgentBackend
    instructions: str = ""
    tools: frozenset[str] | None = None
    """The tools it may use; None: every tool."""
    description: str = ""

    def allows(self, tool_name: str) -> bool:
        return self.tools is None or tool_name in self.tools


class Agents:
    def __init__(self, default: AgentBackend, defined: dict[str, Agent] | None = None) -> None:
        self.default = default
        self.defined = defined or {}

    def get(self, name: str) -> Agent:
        return self.defined.get(name) or Agent(name, self.default)

    def transfers(self, current: str) -> list[dict[str, Any]]:
        """The transfer tools offered to `current` (OpenAI function tools)."""
        if not getattr(self.get(current).backend, "offers_transfers", False):
            return []
        return [transfer_tool(agent) for name, agent in self.defined.items() if name != current]

    def transfer_target(self, tool_name: str, current: str) -> str | None:
        """The agent a `transfer_to_<name>` call names (None: not a transfer call)."""
        name = tool_name.removeprefix(TRANSFER_PREFIX)
        if name in (tool_name, current) or name not in self.defined:
            return None
        return name


def transfer_tool(agent: Agent) -> dict[str, Any]:
    what = f": {agent.description}" if agent.description else ""
    reason = {"type": "string", "description": "Why, in a few words, for the user."}
    return {
        "type": "function",
        "function": {
            "name": f"{TRANSFER_PREFIX}{agent.name}",
            "description": f"Hand the conversation to the {agent.name} agent{what}.",
            "parameters": {"type": "object", "properties": {"reason": reason}},
        },
    }
