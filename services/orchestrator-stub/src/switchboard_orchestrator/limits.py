"""What one run may cost: its duration, the stub's directive caps, and how much it speaks.

The defaults live here once; `WorkerSettings` reads them from the environment (`MAX_RUN_S`,
`STUB_MAX_SLEEP_S`, `STUB_MAX_TOKENS`, `MAX_TTS_CHARS`, `MAX_TOOL_STEPS`, `DIRECTIVES`) and builds a
`RunLimits`.
"""

from dataclasses import dataclass

MAX_RUN_S = 300.0
STUB_MAX_SLEEP_S = 60.0
STUB_MAX_TOKENS = 100_000
MAX_TTS_CHARS = 2000
MAX_TOOL_STEPS = 8

RUN_TIMEOUT = "run_timeout"
"""The cancel reason (and `error` code) of a run stopped for lasting longer than MAX_RUN_S."""


@dataclass(frozen=True)
class RunLimits:
    max_run_s: float = MAX_RUN_S
    """A run still going after this long ends with `error` run_timeout, `run_end` failed."""
    max_sleep_s: float = STUB_MAX_SLEEP_S
    """Longest `/sleep` (also capped by max_run_s)."""
    max_tokens: int = STUB_MAX_TOKENS
    """Most tokens one `/tokens` asks for."""
    max_tts_chars: int = MAX_TTS_CHARS
    """Most characters spoken per reply (`/speak` refuses more; voice replies are cut)."""
    max_tool_steps: int = MAX_TOOL_STEPS
    """Model turns that may call tools in one run; the next turn must answer."""
    directives: bool = True
    """Whether `/tokens`, `/tool`, `/sleep` ... are run as directives (DIRECTIVES); when not,
    a message starting with one is plain text for the model."""
