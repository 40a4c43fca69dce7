"""libs/client-ts from pytest: install its dev dependencies once, build it, run node scripts."""

import asyncio
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "libs" / "client-ts"
INTEGRATION = PACKAGE / "integration"
REACT_EXAMPLE = PACKAGE.parents[1] / "examples" / "react"


def npm(*args: str, timeout: float = 300, cwd: Path = PACKAGE) -> str:
    """Run npm in the package (or `cwd`); its output, or an AssertionError with it."""
    executable = shutil.which("npm")
    assert executable, "npm is not installed (Node 20 and npm: see libs/client-ts/README.md)"
    proc = subprocess.run(
        [executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CI": "true", "NO_COLOR": "1"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"npm {' '.join(args)} exited {proc.returncode}:\n{output}"
    return output


def ensure_installed(cwd: Path = PACKAGE, probe: str = ".bin/tsc") -> None:
    """`npm install` when node_modules (its `probe`) is missing (no lock file is written)."""
    if not (cwd / "node_modules" / probe).exists():
        npm("install", "--no-package-lock", "--no-audit", "--no-fund", cwd=cwd)


def ensure_built() -> None:
    ensure_installed()
    npm("run", "build")


async def run_node(
    script: Path,
    *args: str,
    url: str,
    timeout: float = 150,
    on_line: Callable[[str], Awaitable[None]] | None = None,
    node_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run `node [node_args] script args` with SWITCHBOARD_URL; (exit code, output). `on_line`
    sees each line of stdout as it comes (to act mid-run)."""
    node = shutil.which("node")
    assert node, "node is not installed"
    proc = await asyncio.create_subprocess_exec(
        node,
        *node_args,
        str(script),
        *args,
        cwd=PACKAGE,
        env={
            "SWITCHBOARD_URL": url,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **(env or {}),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if on_line is not None:
                    await on_line(line)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, "\n".join(lines)
