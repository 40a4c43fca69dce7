"""Stopping the machine's shared RabbitMQ / Postgres, only when no other pytest is running,
and always starting them again (in `finally`)."""

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator

import psutil
import pytest

WAIT_S = float(os.environ.get("FAULT_SERVER_WAIT_S", "900"))
PG_VERSION = os.environ.get("PG_CLUSTER_VERSION", "15")


def other_pytests() -> list[str]:
    """`pgrep -af pytest` lines that are neither this process, its parents nor its children."""
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents()), *(c.pid for c in me.children(True))}
    found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if int(line.split()[0]) not in mine]


async def wait_for_quiet_machine() -> None:
    """Other engineers' tests use the same servers: wait until none runs."""
    deadline = time.monotonic() + WAIT_S
    while others := other_pytests():
        if time.monotonic() > deadline:
            pytest.fail(f"other pytest runs kept going for {WAIT_S:.0f} s: {others}")
        await asyncio.sleep(2)


def need(tool: str) -> None:
    if os.geteuid() != 0 or shutil.which(tool) is None:
        pytest.skip(f"needs root and {tool} (this machine's servers)")


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@contextlib.asynccontextmanager
async def rabbitmq_stopped() -> AsyncIterator[None]:
    """`rabbitmqctl stop_app` for the block; `start_app` afterwards, whatever happens."""
    try:
        await asyncio.to_thread(_run, "rabbitmqctl", "stop_app")
        yield
    finally:
        await asyncio.to_thread(_run, "rabbitmqctl", "start_app")
        await asyncio.to_thread(_run, "rabbitmqctl", "await_startup")


@contextlib.asynccontextmanager
async def postgres_stopped() -> AsyncIterator[None]:
    """The Postgres cluster stopped for the block; started again afterwards, whatever happens."""
    ctl = ("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main")
    try:
        await asyncio.to_thread(_run, *ctl, "stop")
        yield
    finally:
        await asyncio.to_thread(_run, *ctl, "start")
