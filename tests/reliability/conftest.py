"""Reliability scenarios: the whole stack as processes, plus a figures recorder."""

from collections.abc import Callable

import pytest

from tests.reliability.results import Figures, record
from tests.stack import stack

Recorder = Callable[[str, Figures], None]


@pytest.fixture(scope="session")
def figures() -> Recorder:
    """`figures(key, Figures(...))` merges a scenario's figures into the ignored
    results.local.json (never the tracked results.json)."""
    return record


__all__ = ["Recorder", "figures", "stack"]
