"""Docs that are generated from code must match it."""

from pathlib import Path

from scripts.config_table import README, update

ROOT = Path(__file__).parents[1]


def test_readme_configuration_table_is_current() -> None:
    text = README.read_text()
    assert update(text) == text, "run `make docs` to regenerate the README's configuration table"


def test_readme_commands_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "lint", "bench", "install"):
        assert f"\n{target}:" in makefile


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in README.read_text()
