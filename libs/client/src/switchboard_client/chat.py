"""`switchboard chat`: a prompt, the live reply, Ctrl-C cancels a run or (at the prompt) exits."""

import asyncio
import contextlib
import secrets
import signal
import sys
import threading
from collections.abc import Awaitable
from typing import TypeVar

from .client import SwitchboardClient
from .errors import Busy, StreamClosed
from .render import Renderer
from .stream import EventStream

T = TypeVar("T")


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of stdin (None at EOF), read by a daemon thread so exit never waits for Enter."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True, name="stdin").start()
    return lines


class Chat:
    def __init__(self, client: SwitchboardClient, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.client_id = f"cli-{secrets.token_hex(4)}"
        self.renderer = Renderer(self.client_id)
        self.finished: set[str] = set()
        self.changed = asyncio.Event()
        self.quit = asyncio.Event()
        self.run_id: str | None = None

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
                return await self._prompt(stdin_lines(loop))
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signal.SIGINT)

    async def _watch(self, stream: EventStream) -> None:
        try:
            async for item in stream:
                self.renderer.show(item)
                if item.type == "run_end" and item.run_id:
                    self.finished.add(item.run_id)
                    self.changed.set()
                elif item.type == "session_end":
                    self.quit.set()
        except StreamClosed as exc:
            print(f"\nconnection closed: {exc}", file=sys.stderr)
            self.quit.set()

    async def _prompt(self, lines: asyncio.Queue[str | None]) -> int:
        while not self.quit.is_set():
            self._write("you> ")
            line = await self._next_line(lines)
            if line is None:
                break
            if line.strip():
                await self._send(line.strip())
        self._write("\n")
        return 0

    async def _next_line(self, lines: asyncio.Queue[str | None]) -> str | None:
        return await self._first(lines.get())

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

    async def _send(self, content: str) -> None:
        try:
            accepted = await self.client.send_message(self.session_id, content)
        except Busy:
            print("a run is still active; wait or press Ctrl-C to cancel it", file=sys.stderr)
            return
        self.run_id = str(accepted["run_id"])
        try:
            while self.run_id not in self.finished and not self.quit.is_set():
                self.changed.clear()
                await self.changed.wait()
        finally:
            self.run_id = None

    def _interrupt(self) -> None:
        """Ctrl-C: cancel the active run, or leave when at the prompt."""
        if self.run_id is None:
            self.quit.set()
            self.changed.set()
            return
        self._write("\n(cancelling…)\n")
        task = asyncio.ensure_future(self.client.cancel(self.session_id))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    @staticmethod
    def _write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
