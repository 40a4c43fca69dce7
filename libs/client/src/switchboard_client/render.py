"""How the CLI shows events: tokens in place, tool calls, status, agent switches, audio, and
the prompt, which is never written inside a reply: output first takes the prompt off its line
(a terminal's line is cleared, a pipe gets a line break), and `prompt()` puts it back only
between replies."""

import json
import sys
from typing import Any, TextIO

from switchboard_protocol import Event

from .notices import ReloadNotice, RunCatchUp
from .stream import Item

DIM, BOLD, CYAN, YELLOW, RED, RESET = (
    "\033[2m",
    "\033[1m",
    "\033[36m",
    "\033[33m",
    "\033[31m",
    "\033[0m",
)


class Renderer:
    """Writes one session's events to a terminal; `client_id` hides this device's own echo."""

    def __init__(self, client_id: str, out: TextIO | None = None, color: bool | None = None):
        self.client_id = client_id
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.color = self.tty if color is None else color
        self.streaming = False
        self.agent = ""
        self.prompt_shown = ""

    # -- the prompt ------------------------------------------------------------------
    def prompt(self, text: str) -> None:
        """Show `text` as the prompt (empty: none) unless a reply is streaming."""
        if self.prompt_shown == text or self.streaming:
            return
        self._hide_prompt()
        if text:
            self.out.write(text)
            self.out.flush()
            self.prompt_shown = text

    def line_entered(self) -> None:
        """The user pressed Enter: the prompt's line is done, the cursor on a fresh one."""
        self.prompt_shown = ""

    def note(self, text: str, style: str = "") -> None:
        """A line of the CLI's own (not an event)."""
        self._line(text, style)

    def _hide_prompt(self) -> None:
        if self.prompt_shown:
            self.out.write("\r\033[K" if self.tty else "\n")
            self.prompt_shown = ""

    def show(self, item: Item) -> None:
        if isinstance(item, RunCatchUp):
            self._catch_up(item)
            return
        if isinstance(item, ReloadNotice):
            self._reloaded(item)
            return
        handler = getattr(self, f"_on_{item.type}", None)
        if handler is not None:
            handler(item)

    def _catch_up(self, item: RunCatchUp) -> None:
        """The answer so far of a run that started before we joined; its tokens follow."""
        self._line("(joined during a reply; the answer so far:)", DIM)
        for call in item.tool_calls:
            self._line(f"⚙ {call.get('tool_name')}({json.dumps(call.get('parameters'))})", CYAN)
        self._write(self._paint(f"{item.agent_type}> ", BOLD) + item.text)
        self.streaming = True

    def _reloaded(self, item: ReloadNotice) -> None:
        if item.reason == "joined_mid_run":
            what = "this reply started before we joined; its start is missing"
        else:
            what = "some events were missed"
        self._line(f"({what}; reloaded: {item.response or 'no reply yet'})", DIM)

    def _paint(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.color and style else text

    def _write(self, text: str) -> None:
        self._hide_prompt()
        self.out.write(text)
        self.out.flush()

    def _line(self, text: str, style: str = "") -> None:
        if self.streaming:
            self._write("\n")
            self.streaming = False
        self._write(self._paint(text, style) + "\n")

    def _on_token(self, event: Any) -> None:
        if not self.streaming:
            self._write(self._paint(f"{event.agent_type}> ", BOLD))
            self.streaming = True
        self._write(event.data.token)

    def _on_response(self, event: Any) -> None:
        if self.streaming:
            self._write("\n")
            self.streaming = False
        else:
            self._line(f"{self._paint(event.agent_type + '>', BOLD)} {event.data.content}")

    def _on_message(self, event: Any) -> None:
        if event.data.client_id != self.client_id:
            self._line(f"you (another device)> {event.data.content}", DIM)

    def _on_tool_call(self, event: Any) -> None:
        params = json.dumps(event.data.parameters)
        waits = " (waits for approval)" if event.data.requires_approval else ""
        self._line(f"⚙ {event.data.tool_name}({params}){waits}", CYAN)

    def _on_tool_result(self, event: Any) -> None:
        outcome = event.data.error if event.data.error else json.dumps(event.data.result)
        self._line(f"  → {outcome}", RED if event.data.error else CYAN)

    def _status(self, event: Any) -> None:
        self._line(f"… {event.data.message or event.data.status}", DIM)

    _on_thinking = _on_typing = _on_waiting = _status

    def _on_agent_switch(self, event: Any) -> None:
        self._line(f"[agent {event.data.from_} → {event.data.to}] {event.data.reason}", YELLOW)

    def _on_state(self, event: Any) -> None:
        if event.data.delta is not None:
            shown = f"state change {json.dumps(event.data.delta)}"
        else:
            shown = f"state {json.dumps(event.data.snapshot)}"
        self._line(shown if len(shown) <= 160 else shown[:159] + "…", DIM)

    def _on_tts(self, event: Any) -> None:
        final = " (final)" if event.data.final else ""
        self._line(f"♪ audio chunk {event.data.chunk}{final}", DIM)

    def _on_error(self, event: Any) -> None:
        self._line(f"error {event.data.code}: {event.data.message}", RED)

    def _on_warning(self, event: Any) -> None:
        self._line(f"warning {event.data.code}: {event.data.message}", YELLOW)

    def _on_run_end(self, event: Event) -> None:
        status = getattr(event.data, "status", "")
        if self.streaming:  # a reply that ended without its `response`
            self._write("\n")
            self.streaming = False
        if status != "completed":
            self._line(f"(run {status})", DIM)

    def _on_session_end(self, event: Any) -> None:
        self._line(f"(session ended: {event.data.reason})", DIM)
