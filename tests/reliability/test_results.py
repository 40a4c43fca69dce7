"""A test run changes no tracked file: figures go to an ignored file, and the published page
changes only through `make reliability-report`."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.reliability.report import publish
from tests.reliability.results import LATEST, PUBLISHED, Figures, load, record


def test_scenarios_record_into_an_ignored_file() -> None:
    assert LATEST != PUBLISHED
    if shutil.which("git") is None or not (PUBLISHED.parents[2] / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(LATEST)], cwd=LATEST.parent)
    assert ignored.returncode == 0, f"{LATEST} is not git-ignored"


def test_report_merges_the_latest_figures_into_the_published_ones(tmp_path: Path) -> None:
    latest, published, doc = tmp_path / "latest.json", tmp_path / "pub.json", tmp_path / "r.md"
    record("1-gateway-sigkill", Figures("old", "before", published=1), published)
    record("2-client-abort", Figures("kept", "not run again", published=2), published)
    record("1-gateway-sigkill", Figures("new", "this run", published=3), latest)
    assert publish(latest, published, doc) == 1
    merged = load(published)
    assert merged["1-gateway-sigkill"]["published"] == 3
    assert merged["2-client-abort"]["published"] == 2
    assert "this run" in doc.read_text() and "not run again" in doc.read_text()
