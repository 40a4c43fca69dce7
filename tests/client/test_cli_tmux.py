"""`switchboard chat` in a real terminal (tmux) against the real stack: it approves a tool call,
shows the reply, shows another device's message and its reply, and never writes its prompt
inside streamed text (checked on the screen and on every byte the terminal received)."""

import asyncio
import contextlib
import re
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from switchboard_client import SwitchboardClient

from tests.stack import Stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.broker,
    pytest.mark.db,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)"),
]
CLI = str(Path(sys.executable).parent / "switchboard")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT = "you> "


class Terminal:
    """One tmux server of its own, one 200x50 window running a command."""

    def __init__(self, socket: str, raw: Path) -> None:
        self.socket, self.raw = socket, raw

    async def tmux(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0, f"tmux {args}: {err.decode()}"
        return out.decode()

    async def start(self, command: str) -> None:
        """`command` in the window; it waits for Enter until the raw log is attached, so the
        log misses no byte."""
        await self.tmux(
            "new-session", "-d", "-s", "cli", "-x", "200", "-y", "50",
            f"sh -c 'read _; exec {command}'",
        )  # fmt: skip
        await self.tmux("pipe-pane", "-o", "-t", "cli", f"cat >> {self.raw}")
        await self.tmux("send-keys", "-t", "cli", "Enter")

    async def screen(self) -> str:
        return await self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "cli")

    async def until(self, ready: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """The screen once `ready(screen)`; tmux has no output event, so it is looked at again
        every 50 ms until then."""
        try:
            async with asyncio.timeout(timeout):
                while not ready(text := await self.screen()):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"no {what} on screen:\n{await self.screen()}") from None
        return text

    async def type(self, line: str) -> None:
        await self.tmux("send-keys", "-t", "cli", "-l", line)
        await self.tmux("send-keys", "-t", "cli", "Enter")

    def received(self) -> str:
        """Every byte the terminal got (program output and the tty's echo), colours removed."""
        return ANSI.sub("", self.raw.read_text(errors="replace"))


@pytest.fixture
async def terminal(tmp_path: Path) -> AsyncIterator[Terminal]:
    term = Terminal(f"sbtest-{secrets.token_hex(4)}", tmp_path / "raw.log")
    term.raw.touch()
    try:
        yield term
    finally:
        with contextlib.suppress(AssertionError):
            await term.tmux("kill-server")


def at_prompt(prompt: str) -> Callable[[str], bool]:
    """The screen's last non-empty line is `prompt` and nothing typed after it."""
    return lambda screen: (
        [ln.strip() for ln in screen.splitlines() if ln.strip()][-1:] == [prompt.strip()]
    )


def replies_never_hold_a_prompt(received: str) -> None:
    """From each agent prefix to the end of its line, neither prompt was written."""
    for reply in re.finditer(r"personal> [^\n]*", received):
        text = reply.group()
        assert PROMPT not in text and "[y/n]" not in text and "\r" not in text, repr(text)


async def test_chat_approves_a_tool_call_and_keeps_its_prompt_out_of_replies(
    stack: Stack, terminal: Terminal, tmp_path: Path
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SWITCHBOARD_URL": stack.url}
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    await terminal.start(f"env {exports} {CLI} chat --user carol")
    screen = await terminal.until(at_prompt(PROMPT), "first prompt")
    sid = re.search(r"session (\S+) \(agent", screen)
    assert sid, screen

    await terminal.type("/approve calculate expression=6*7")
    question = 'approve calculate({"expression": "6*7"})? [y/n]'
    await terminal.until(at_prompt(question), "approval question")
    await terminal.type("y")
    screen = await terminal.until(
        lambda s: "(approved calculate)" in s and "42" in s and at_prompt(PROMPT)(s),
        "reply after approval",
    )

    token = await SwitchboardClient.dev_token("carol", stack.url)
    async with SwitchboardClient(stack.url, token) as phone:
        await phone.send_message(sid.group(1), "hello from the phone", client_id="phone")
    screen = await terminal.until(
        lambda s: (
            "you (another device)> hello from the phone" in s
            and s.rstrip().endswith(PROMPT.strip())
            and s.count("personal>") >= 2
        ),
        "another device's message and its reply",
    )

    await terminal.type("/tokens 30 rate=60")
    screen = await terminal.until(lambda s: "t30" in s and at_prompt(PROMPT)(s), "streamed reply")

    lines = screen.splitlines()
    assert not [ln for ln in lines if "personal>" in ln and (PROMPT in ln or "[y/n]" in ln)]
    assert any(question in ln for ln in lines) and "→" in screen
    replies_never_hold_a_prompt(terminal.received())
