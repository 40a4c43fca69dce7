"""Docs that are generated from code must match it, and the README stays a short front door."""

import subprocess
from pathlib import Path

from scripts.config_table import CONFIG_DOC, START, rows, update

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def test_configuration_table_is_current() -> None:
    text = CONFIG_DOC.read_text()
    assert START in text
    assert update(text) == text, "run `make docs` to regenerate docs/configuration.md's table"


def test_operator_settings_come_first_and_stub_knobs_last() -> None:
    tiers: dict[str, set[str]] = {}
    for alias, _, _, _, tier in rows():
        tiers.setdefault(tier, set()).add(alias)
    assert 20 <= len(tiers["operator"]) <= 30
    assert {"AMQP_URL", "DATABASE_URL", "JWT_SECRET", "MODEL_BACKEND"} <= tiers["operator"]
    stub = {"WORD_DELAY_S", "SLOW_MAX_S", "STUB_MAX_SLEEP_S", "STUB_MAX_TOKENS"}
    assert tiers["stub"] == stub
    assert "AMQP_URLS" not in set().union(*tiers.values())  # a deprecated alias, not a setting


def test_readme_is_short_and_has_no_configuration_table() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert START not in text and "| variable |" not in text
    assert "docs/configuration.md" in text and "docs/performance.md" in text


def test_readme_links_exist() -> None:
    for path in ("docs/configuration.md", "docs/performance.md", "bench/README.md"):
        assert (ROOT / path).is_file(), path
        assert path in README.read_text()


def test_readme_commands_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "lint", "bench", "install", "help"):
        assert f"\n{target}:" in makefile


def test_make_help_lists_every_target_with_a_line() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = makefile.split(".PHONY:", 1)[1].split("\n", 1)[0].split()
    out = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
        timeout=30, check=True,
    ).stdout  # fmt: skip
    listed = [line.split()[1] for line in out.splitlines() if line.strip()]
    assert sorted(listed) == sorted(phony)
    assert all(len(line.split()) > 2 for line in out.splitlines() if line.strip())


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in README.read_text()
