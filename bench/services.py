"""Starting the services under test as real processes (console scripts from the venv)."""

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
import psutil

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def have_script(script: str) -> bool:
    return (BIN / script).exists()


class Service:
    """One service process with its log in a temp file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, script: str, args: list[str], env: Mapping[str, str]) -> None:
        self.script = script
        self.args = args
        self.env = {**os.environ, **env}
        fd, path = tempfile.mkstemp(prefix=f"bench-{script}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Service":
        if not have_script(self.script):
            raise RuntimeError(f"{self.script} is not installed in {BIN} (run `make install`)")
        self.proc = subprocess.Popen(
            [str(BIN / self.script), *self.args],
            env=self.env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def ps(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Until `url` answers 200; raises with the log tail if the process dies or times out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                self._check_alive()
                try:
                    if (await client.get(url, timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if loop.time() > deadline:
                    raise TimeoutError(f"{self.script} not ready at {url}:\n{self.output()}")
                await asyncio.sleep(0.1)

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.script} exited:\n{self.output()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
