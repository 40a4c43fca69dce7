"""The `switchboard` command, run as a real process against the fake gateway."""

import asyncio
import sys
from pathlib import Path

import pytest

from tests.client.fake_gateway import FakeGateway

pytestmark = pytest.mark.timeout(60)
CLI = str(Path(sys.executable).parent / "switchboard")


async def read_until(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    async with asyncio.timeout(20):
        while text not in "".join(seen):
            chunk = await stream.read(4096)
            assert chunk, f"output ended before {text!r}: {''.join(seen)}"
            seen.append(chunk.decode())


async def test_token_prints_a_dev_token(gateway: FakeGateway) -> None:
    proc = await asyncio.create_subprocess_exec(
        CLI, "token", "--user", "carol", "--url", gateway.url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    async with asyncio.timeout(5):
        token = out.decode().strip()
    assert token.count(".") == 2 and gateway.auth.env == "dev"


async def test_chat_streams_replies_and_tool_calls(gateway: FakeGateway) -> None:
    proc = await asyncio.create_subprocess_exec(
        CLI, "chat", "--user", "alice", "--url", gateway.url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    seen: list[str] = []
    await read_until(proc.stdout, "you> ", seen)
    proc.stdin.write(b"/tokens 3\n")
    await read_until(proc.stdout, "t1 t2 t3", seen)
    await read_until(proc.stdout, "you> ", seen[-1:])
    proc.stdin.write(b"/tool get_time\n")
    await read_until(proc.stdout, "12:00", seen)
    proc.stdin.write(b"/agent travel\n")
    await read_until(proc.stdout, "Hello from travel", seen)
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    text = "".join(seen)
    assert "get_time" in text and "agent personal → travel" in text
    assert "another device" not in text  # its own messages are recognised as its own


async def test_chat_exits_with_an_error_when_the_session_is_not_yours(
    gateway: FakeGateway,
) -> None:
    sid = gateway.new_session(user="bob")["id"]
    proc = await asyncio.create_subprocess_exec(
        CLI, "chat", "--session", sid, "--url", gateway.url,
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1 and b"404" in err
