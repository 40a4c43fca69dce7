"""One service as a child process: started in its own process group, its output kept in a log
file (and, for `make run`, copied to ours with a `[name]` prefix), waited on for health or a
line it prints, and stopped with SIGTERM, then SIGKILL."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from .health import http_ok

BIN = Path(sys.executable).parent
"""Where the console scripts (`switchboard-session`, ...) of this interpreter's venv are."""


def script_path(script: str) -> str:
    """`script` from BIN when it is installed there, else as given (an absolute path)."""
    return str(BIN / script) if (BIN / script).exists() else script


class ServiceProcess:
    """A console script of the venv (or any command) with its own log file.

    `prefix`: also copy each output line to our stdout behind this prefix (`make run`).
    """

    def __init__(
        self,
        script: str,
        args: list[str],
        env: Mapping[str, str],
        *,
        name: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self.script = script
        self.args = args
        self.name = name or script
        self.env = {**os.environ, **env}
        self.prefix = prefix
        fd, path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self.proc: subprocess.Popen[bytes] | None = None
        self._copier: threading.Thread | None = None

    def start(self) -> "ServiceProcess":
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [script_path(self.script), *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.prefix is not None else log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our signals reach it only through us
            )
        if self.prefix is not None:
            self._copier = threading.Thread(target=self._copy_output, daemon=True)
            self._copier.start()
        return self

    def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("ab", buffering=0) as log:
            for line in self.proc.stdout:
                log.write(line)
                text = line.decode(errors="replace").rstrip("\n")
                sys.stdout.write(f"{self.prefix}{text}\n")
                sys.stdout.flush()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def _check_alive(self) -> None:
        if self.returncode is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.output()[-4000:]}")

    async def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Until `url` answers 200; raises with the log when the process exits or time is up."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await http_ok(url):
            self._check_alive()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name} not ready at {url}:\n{self.output()[-4000:]}")
            await asyncio.sleep(0.1)

    async def wait_output(self, text: str, timeout: float = 30.0) -> None:
        """Until the log contains `text` (for services without HTTP)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while text not in self.output():
            self._check_alive()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name} never printed {text!r}:\n{self.output()[-4000:]}")
            await asyncio.sleep(0.05)

    async def wait(self) -> int:
        """Until the process exits; its status. Woken by a pidfd on Linux (no thread held
        per waiter: the supervisor waits on every child at once, again at every stage)."""
        assert self.proc is not None
        if (code := self.proc.poll()) is not None:
            return code
        if not hasattr(os, "pidfd_open"):  # not Linux: a thread per waiter
            return await asyncio.to_thread(self.proc.wait)
        try:
            fd = os.pidfd_open(self.proc.pid)
        except ProcessLookupError:
            return self.proc.wait()
        loop, exited = asyncio.get_running_loop(), asyncio.Event()
        loop.add_reader(fd, exited.set)
        try:
            if self.proc.poll() is None:
                await exited.wait()
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return self.proc.wait()

    async def aclose(self, timeout: float = 15.0) -> int | None:
        """`stop` without blocking the event loop: SIGTERM, SIGKILL after `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(), timeout)
            except TimeoutError:
                if self.prefix is not None:
                    print(f"devstack: {self.name} did not stop within {timeout:g} s: killing it")
                self._signal(signal.SIGKILL)
                await self.wait()
        await asyncio.to_thread(self._join)
        return self.proc.returncode

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(10)
        self._join()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; its status, once its output is copied."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                if self.prefix is not None:
                    print(f"devstack: {self.name} did not stop within {timeout:g} s: killing it")
                self.kill()
        self._join()
        return self.proc.returncode

    def _join(self) -> None:
        if self._copier is not None:
            self._copier.join(10)
