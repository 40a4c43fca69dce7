"""Start Switchboard services as real processes for tests (and stop or kill them)."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """One service process (a console script from .venv/bin) with its log in a temp file."""

    def __init__(self, script: str, args: list[str], env: Mapping[str, str]) -> None:
        self.script = script
        self.args = args
        self.env = {**os.environ, **env}
        self.log = tempfile.NamedTemporaryFile(prefix=f"{script}-", suffix=".log", delete=False)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServiceProcess":
        self.proc = subprocess.Popen(
            [str(BIN / self.script), *self.args],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    async def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers 200 (raises with the process log when it does not)."""
        async with httpx.AsyncClient() as client:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.script} exited:\n{self.output()}")
                try:
                    if (await client.get(url, timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{self.script} not ready at {url}:\n{self.output()}")
                await asyncio.sleep(0.1)

    async def wait_output(self, text: str, timeout: float = 30.0) -> None:
        """Wait until the process log contains `text` (for services without HTTP)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while text not in self.output():
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.script} exited:\n{self.output()}")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.script} never printed {text!r}:\n{self.output()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as in a crash."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode
