"""libs/client/README.md's quick-start, verbatim, against the real stack: it runs as written and
its device gets the echo, `run_start` and the first token of its run, every time."""

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

README = Path(__file__).parents[2] / "libs" / "client" / "README.md"
RUNS = 20
AT_ONCE = 2
"""Quick-starts running side by side (all as one user: stay below its limit of active runs)."""


def quick_start() -> str:
    """The first ```python block of the README, as is."""
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert match, "no python block in libs/client/README.md"
    return match.group(1)


@pytest.fixture(scope="module")
async def real_stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    """Session service, gateway, run and tool workers as processes, with no setting overridden
    beyond where to find the broker and database (tests/stack.py)."""
    async with isolated_stack(postgres_admin_url, amqp_url, "qs") as stack:
        yield stack


async def run_script(script: Path, url: str) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env={"SWITCHBOARD_URL": url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(30):
            output, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, output.decode(errors="replace")


def first_lines(output: str) -> list[str]:
    """Each printed item's type (`message`, `run_start`, …), plus `t1` for the first token."""
    kinds = []
    for line in output.splitlines():
        kind, _, data = line.partition(" ")
        kinds.append("t1" if kind == "token" and "'t1 '" in data else kind)
    return kinds


def whole_run(output: str) -> bool:
    kinds = [k for k in first_lines(output) if k != "session_start"]  # the creating device's
    return kinds[:3] == ["message", "run_start", "thinking"] and "t1" in kinds


def run_in_thread(code: str) -> str:
    """The code run as `__main__` would run it (its own event loop, in this worker thread),
    with what it prints collected."""
    printed: list[str] = []

    def capture(*args: object, **_: object) -> None:
        printed.append(" ".join(str(a) for a in args))

    exec(compile(code, str(README), "exec"), {"__name__": "__main__", "print": capture})
    return "\n".join(printed)


async def test_the_readme_quick_start_runs_as_a_script(real_stack: Stack, tmp_path: Path) -> None:
    script = tmp_path / "quick_start.py"
    script.write_text(quick_start())
    code, output = await run_script(script, real_stack.url)
    assert code == 0 and whole_run(output), output


async def test_the_readme_quick_start_gets_its_whole_run_every_time(
    real_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 runs, a few at a time, in threads of this process (a new process each would spend
    most of its time importing)."""
    monkeypatch.setenv("SWITCHBOARD_URL", real_stack.url)
    code = quick_start()
    slots = asyncio.Semaphore(AT_ONCE)

    async def once() -> str:
        async with slots, asyncio.timeout(30):
            return await asyncio.to_thread(run_in_thread, code)

    outputs = await asyncio.gather(*(once() for _ in range(RUNS)))
    bad = [out for out in outputs if not whole_run(out)]
    assert not bad, f"{RUNS - len(bad)}/{RUNS}; a failing run printed:\n{bad[0]}"
