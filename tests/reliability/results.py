"""Figures of the reliability scenarios, merged into `results.json` (one entry per scenario)."""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


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


def load() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(key: str, figures: Figures) -> None:
    """Merge one scenario's figures into the results file (the last run of each wins)."""
    data = load()
    data[key] = {**asdict(figures), "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
