"""The `switchboard` command, run as a real process against the fake gateway."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
from switchboard_client import GatewayUnreachable, SwitchboardClient
from switchboard_stack import free_port

from tests.client.fake_gateway import FakeGateway

pytestmark = pytest.mark.timeout(60)
CLI = str(Path(sys.executable).parent / "switchboard")


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI keeps its device id under the user's config dir: a test's own, not the home's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


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


async def chat_once(gateway: FakeGateway) -> None:
    """`switchboard chat` in a new session until its prompt, then EOF."""
    proc = await asyncio.create_subprocess_exec(
        CLI, "chat", "--url", gateway.url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    await read_until(proc.stdout, "you> ", [])
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_chat_is_one_device_per_machine_named_at_session_creation(
    gateway: FakeGateway, config_home: Path
) -> None:
    await chat_once(gateway)
    await chat_once(gateway)
    created = [body.get("client_id") for body in gateway.created]
    devices = [client_id for _sid, client_id in gateway.devices]
    assert len(created) == 2 and created[0] == created[1] and created[0] is not None
    assert devices == created  # no `default` device: each session has the CLI's device alone
    assert (config_home / "switchboard" / "device_id").read_text().strip() == created[0]


async def test_chat_against_a_stopped_gateway_says_so_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = await asyncio.create_subprocess_exec(
        CLI, "chat", "--url", url, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"switchboard: cannot reach the gateway at {url}"
    )


async def test_sdk_raises_one_line_connection_error_naming_the_gateway() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with SwitchboardClient(url, "token") as client:
        with pytest.raises(GatewayUnreachable) as raised:
            await client.create_session()
    assert str(raised.value).startswith(f"cannot reach the gateway at {url}: ")
    assert "\n" not in str(raised.value) and isinstance(raised.value, ConnectionError)
    with pytest.raises(GatewayUnreachable):
        await SwitchboardClient.dev_token("alice", url)
