"""AGENTS entries: what each agent type is (kept apart from the backends, so reading settings
stays light). AGENTS is a JSON object, or the path of a file holding one:

    {"personal": {"backend": "openai", "model": "gpt-4o-mini",
                  "instructions": "You are Ada, a personal assistant.", "tools": ["get_time"]},
     "travel":   {"instructions": "You plan trips.", "description": "trips and bookings"},
     "research": {"backend": "agui", "url": "http://127.0.0.1:9000/agent"}}
"""

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AGENT_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,52}$"
"""An agent type's name: a session's `agent_type`, and after `transfer_to_` a function name
(64 characters at most)."""
TRANSFER_PREFIX = "transfer_to_"

Backend = Literal["stub", "openai", "agui"]


class AgentConfig(BaseModel):
    """One agent type: `{"backend", "model", "url", "instructions", "tools", "description"}`,
    every field optional."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend | None = None
    """`stub`, `openai` or `agui`; unset: MODEL_BACKEND."""
    model: str | None = None
    """The model name (`openai`); unset: OPENAI_MODEL."""
    url: str | None = None
    """The AG-UI agent's endpoint (`agui`); unset: AGUI_URL."""
    instructions: str = Field(default="", max_length=100_000)
    """The system message of every request (`openai`; with `agui` the first message, which an
    agent that keeps its own prompt, as Pydantic AI's adapter does by default, ignores)."""
    tools: list[str] | None = None
    """The tools it may use (tool workers' names); unset: all of them, `[]`: none."""
    description: str = Field(default="", max_length=1000)
    """What it is for, in a few words: the description of its transfer tool."""


def read_agents(value: Any) -> Any:
    """AGENTS as given: a JSON object, or a file path whose content is one."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return {}
    if not text.startswith("{"):
        path = Path(text).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"AGENTS: cannot read the file {str(path)!r}: {exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"AGENTS is not a JSON object (nor a file holding one): {exc}") from exc
