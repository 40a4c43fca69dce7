"""Headless Chromium (Debian's) driven by Playwright, the page's static folder, and a real stack
per module for the tests that need one."""

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

STATIC = Path(__file__).parents[2] / "services/gateway/src/switchboard_gateway/static"
ARTIFACTS = Path(__file__).parents[2] / "build/browser"
"""Screenshots the tests take (live view, after a reload, phone sizes); not tracked."""
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # this machine's network is closed: no background connections, no lookups at start
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    if not (STATIC / "sdk/index.js").is_file():
        pytest.fail("the page's SDK is not built: run `make install` (builds libs/client-ts)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


from tests.stack import Stack, isolated_stack, stack  # noqa: E402,F401  (the real services)


@pytest.fixture(scope="module")
async def page_stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    """One real stack for every test of a module (own database and broker prefix)."""
    async with isolated_stack(postgres_admin_url, amqp_url, "page") as running:
        yield running
