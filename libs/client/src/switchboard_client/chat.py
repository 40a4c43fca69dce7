"""`switchboard chat`: a prompt, the live reply, tool approvals; Ctrl-C cancels a run or (at the
prompt) exits.

One loop reads lines and one task shows events. A line answers the oldest tool call waiting for
approval when there is one, else is sent as a message when no reply of ours is running (else
it is refused, never held back and sent later). The prompt is redrawn after every event that
leaves no reply streaming: after a reply, after another device's message, after a decision.
"""

import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from .client import SwitchboardClient
from .errors import ApiError, Busy, StreamClosed
from .notices import RunCatchUp
from .render import DIM, RED, Renderer
from .stream import EventStream, Item

T = TypeVar("T")
PROMPT = "you> "
YES, NO = {"y", "yes"}, {"n", "no"}


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of stdin (None at EOF), read by a daemon thread so exit never waits for Enter."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True, name="stdin").start()
    return lines


@dataclass(frozen=True)
class PendingCall:
    """A `tool_call` with `requires_approval` that no device has decided yet."""

    call_id: str
    run_id: str | None
    tool_name: str
    parameters: Any

    @property
    def question(self) -> str:
        return f"approve {self.tool_name}({json.dumps(self.parameters)})? [y/n] "


class Chat:
    def __init__(self, client: SwitchboardClient, session_id: str, client_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.client_id = client_id
        self.renderer = Renderer(self.client_id)
        self.finished: set[str] = set()
        self.pending: dict[str, PendingCall] = {}
        self.quit = asyncio.Event()
        self.run_id: str | None = None
        self.sending = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGINT, self._interrupt)
        live = asyncio.Event()

        def on_state(state: str) -> None:
            if state in ("live", "resumed"):
                live.set()

        stream = self.client.events(self.session_id, self.client_id, on_state=on_state)
        async with stream:
            watcher = asyncio.create_task(self._watch(stream))
            try:
                await self._first(live.wait())  # events of our first message reach us
                return await self._read(stdin_lines(loop))
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signal.SIGINT)

    # -- what is on screen -------------------------------------------------------------
    def _prompt_text(self) -> str:
        if self.pending:
            return next(iter(self.pending.values())).question
        return "" if self.run_id is not None or self.sending else PROMPT

    def _redraw(self) -> None:
        self.renderer.prompt(self._prompt_text())

    # -- events ------------------------------------------------------------------------
    async def _watch(self, stream: EventStream) -> None:
        try:
            self._redraw()
            async for item in stream:
                self.renderer.show(item)
                self._track(item)
                self._redraw()
        except StreamClosed as exc:
            self.renderer.note(f"connection closed: {exc}", RED)
            self.quit.set()

    def _track(self, item: Item) -> None:
        """Runs that ended and tool calls that wait for a decision, from the events."""
        if isinstance(item, RunCatchUp):
            for call in item.tool_calls:
                if call.get("requires_approval") and "result" not in call and "error" not in call:
                    self._wait_for(call, item.run_id)
            return
        run_id = getattr(item, "run_id", None)
        if item.type == "tool_call" and item.data.requires_approval:
            self._wait_for(item.data.model_dump(), run_id)
        elif item.type == "tool_result":
            self.pending.pop(item.data.call_id, None)
        elif item.type == "run_end" and run_id:
            self.finished.add(run_id)
            self.pending = {k: c for k, c in self.pending.items() if c.run_id != run_id}
            if run_id == self.run_id:
                self.run_id = None
        elif item.type == "session_end":
            self.quit.set()

    def _wait_for(self, call: dict[str, Any], run_id: str | None) -> None:
        call_id = str(call.get("call_id"))
        self.pending[call_id] = PendingCall(
            call_id, run_id, str(call.get("tool_name")), call.get("parameters") or {}
        )

    # -- lines -------------------------------------------------------------------------
    async def _read(self, lines: asyncio.Queue[str | None]) -> int:
        while not self.quit.is_set():
            self._redraw()
            line = await self._first(lines.get())
            if line is None:
                break
            self.renderer.line_entered()
            await self._answer(line.strip())
        self.renderer.prompt("")
        sys.stdout.write("\n")
        sys.stdout.flush()
        return 0

    async def _answer(self, line: str) -> None:
        if self.pending:
            await self._decide(next(iter(self.pending.values())), line.lower())
        elif not line:
            return
        elif self.run_id is not None:
            self.renderer.note("(not sent: a reply is still running; Ctrl-C cancels it)", DIM)
        else:
            await self._send(line)

    async def _decide(self, call: PendingCall, answer: str) -> None:
        if answer not in YES | NO:
            self.renderer.note("(answer y or n)", DIM)
            return
        approve = answer in YES
        try:
            await self.client.decide_tool(self.session_id, call.call_id, approve=approve)
        except ApiError as exc:
            self.renderer.note(f"(decision not taken: {exc.message or exc.code})", DIM)
        else:
            self.renderer.note(f"({'approved' if approve else 'denied'} {call.tool_name})", DIM)
        self.pending.pop(call.call_id, None)  # decided here or elsewhere: its result follows

    async def _send(self, content: str) -> None:
        self.sending = True
        try:
            accepted = await self.client.send_message(self.session_id, content)
        except Busy:
            self.renderer.note("(not sent: a run is active; wait or press Ctrl-C)", DIM)
            return
        finally:
            self.sending = False
        run_id = str(accepted["run_id"])
        self.run_id = None if run_id in self.finished else run_id

    async def _first(self, waiting: Awaitable[T]) -> T | None:
        """`waiting`'s result, or None when the user quits first."""
        getter = asyncio.ensure_future(waiting)
        quitter = asyncio.ensure_future(self.quit.wait())
        await asyncio.wait({getter, quitter}, return_when=asyncio.FIRST_COMPLETED)
        quitter.cancel()
        if not getter.done():
            getter.cancel()
            return None
        return getter.result()

    def _interrupt(self) -> None:
        """Ctrl-C: cancel the active run, or leave when at the prompt."""
        if self.run_id is None:
            self.quit.set()
            return
        self.renderer.note("(cancelling…)", DIM)
        task = asyncio.ensure_future(self.client.cancel(self.session_id))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
