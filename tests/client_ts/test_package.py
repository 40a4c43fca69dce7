"""libs/client-ts builds, its unit tests pass, its types match the protocol's schema, and
`npm pack` ships JavaScript with `.d.ts` files and nothing else."""

import json

import pytest

from tests.client_ts.npm import PACKAGE, REACT_EXAMPLE, ensure_built, ensure_installed, npm

pytestmark = [pytest.mark.timeout(600)]


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    ensure_built()


def test_the_unit_tests_pass() -> None:
    npm("exec", "--", "vitest", "run")


def test_the_generated_types_are_current() -> None:
    """`src/generated/protocol.ts` is what gen-types makes of today's schema."""
    npm("run", "gen-types", "--", "--check")


def test_the_package_typechecks() -> None:
    npm("run", "typecheck")


def test_the_react_example_typechecks_against_the_build() -> None:
    ensure_installed(REACT_EXAMPLE)
    npm("run", "typecheck", cwd=REACT_EXAMPLE)


def test_npm_pack_ships_the_build_with_declarations() -> None:
    output = npm("pack", "--dry-run", "--json")
    files = {f["path"] for f in json.loads(output[output.index("[") :])[0]["files"]}
    assert {"package.json", "README.md", "dist/index.js", "dist/index.d.ts"} <= files
    assert "dist/generated/protocol.d.ts" in files
    assert all(f.startswith("dist/") or f in {"package.json", "README.md"} for f in files), files
    assert (PACKAGE / "dist" / "index.d.ts").read_text().count("export") > 5
