"""Figures of the reliability scenarios (one entry per scenario, the last run of each wins).

A test run writes `results.local.json` (git-ignored), so `make test` changes no tracked file.
`results.json` (tracked) holds the figures behind docs/reliability.md; `make reliability-report`
merges the local figures into it and regenerates the page, on purpose only.
"""

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LATEST = Path(__file__).with_name("results.local.json")
"""What this checkout's last test runs measured (ignored by git)."""
PUBLISHED = Path(__file__).with_name("results.json")
"""The figures docs/reliability.md shows (tracked; written by `make reliability-report`)."""


@dataclass
class Figures:
    scenario: str
    done: str
    published: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    """Events seen twice after dedupe by id (must be 0); redeliveries before dedupe are below."""
    redelivered: int = 0
    recovery_s: float | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load(path: Path = LATEST) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(data: dict[str, dict[str, Any]], path: Path) -> None:
    """Written whole, then renamed over `path`: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    partial.replace(path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """`path`'s merge lock: test processes running side by side (pytest -n) merge in turn."""
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record(key: str, figures: Figures, path: Path = LATEST) -> None:
    """Merge one scenario's figures into the (ignored) results of this checkout."""
    with _locked(path):
        data = load(path)
        data[key] = {**asdict(figures), "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        save(data, path)
