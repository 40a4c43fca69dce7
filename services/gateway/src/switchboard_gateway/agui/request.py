"""What a `POST .../agui` asks for: its `RunAgentInput` read and checked (errors name the
field), its last message as the session's message, and `forwardedProps.on_busy`."""

from dataclasses import dataclass
from typing import Any

from ag_ui.core import RunAgentInput, TextPart, UserMessage
from pydantic import ValidationError
from switchboard_edge import safe_json

ON_BUSY = ("reject", "interrupt", "enqueue")


class AguiRefused(Exception):
    """A request answered with an error before any event: `{"error": {code, message}}`."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AguiMessage:
    content: str
    on_busy: str


def read_input(body: bytes, session_id: str) -> AguiMessage:
    """The message a `RunAgentInput` body sends to session `session_id`, or AguiRefused (422)."""
    try:
        raw = safe_json.loads(body or b"null")
        run_input = RunAgentInput.model_validate(raw)
    except ValueError as exc:
        raise AguiRefused(422, "validation_error", _problem(exc)) from exc
    if run_input.thread_id != session_id:
        raise AguiRefused(
            422, "validation_error", "threadId: must be the session's id (the URL's {id})"
        )
    return AguiMessage(_last_user_text(run_input), _on_busy(run_input.forwarded_props))


def _problem(exc: ValueError) -> str:
    """The first thing wrong, naming its field (`messages.0.content`, ...)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}"[:500]
    return f"body: {exc}"[:500]


def _last_user_text(run_input: RunAgentInput) -> str:
    if not run_input.messages or not isinstance(run_input.messages[-1], UserMessage):
        raise AguiRefused(
            422, "validation_error", "messages: the last message must be the user's (role user)"
        )
    content = run_input.messages[-1].content
    if isinstance(content, str):
        text = content
    else:
        text = "\n".join(part.text for part in content if isinstance(part, TextPart))
    if not text.strip():
        raise AguiRefused(422, "validation_error", "messages: the last user message has no text")
    return text


def _on_busy(props: Any) -> str:
    value = props.get("on_busy", "reject") if isinstance(props, dict) else "reject"
    if value not in ON_BUSY:
        raise AguiRefused(
            422, "validation_error", f"forwardedProps.on_busy: must be one of {', '.join(ON_BUSY)}"
        )
    return str(value)
