"""Steps on the demo page, by its data-testid attributes."""

from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS

TERMINAL = ("completed", "failed", "cancelled")
SIZES = {"desktop": (1280, 800), "phone-390": (390, 844), "phone-360": (360, 740)}


def tid(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(name)


def watch_console(page: Page) -> list[str]:
    """Page errors and console errors, collected as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


async def sign_in(page: Page, url: str, user: str = "alice") -> None:
    """Open `url` and sign in as `user`, unless this browser context already is (sign-in is
    shared by the tabs of one context)."""
    await page.goto(url)  # the page's script has run by `load`: the form shows only when needed
    login, app = tid(page, "login-user"), page.locator("main.app")
    if await login.is_visible():
        await login.fill(user)
        await tid(page, "login-button").click()
    await expect(app).to_be_visible()


async def new_session(page: Page) -> None:
    """Create a session (on a phone the list is a drawer: open it first)."""
    if not await tid(page, "new-session").is_visible():
        await tid(page, "sessions-toggle").click()
    await tid(page, "new-session").click()
    await wait_state(page, "live")


async def send(page: Page, text: str) -> None:
    await tid(page, "message-input").fill(text)
    await tid(page, "send-button").click()


async def final_reply(page: Page, index: int = -1) -> str:
    """The text of a completed assistant reply (waits for it)."""
    replies = page.locator("[data-testid=msg-assistant][data-final=true]")
    await expect(replies.nth(index)).to_be_visible(timeout=20_000)
    return await replies.nth(index).locator(".text").inner_text()


async def run_ended(page: Page, index: int, status: str = "completed") -> None:
    """Wait for the `index`th run of the conversation to end with `status`."""
    run = page.locator("[data-testid=run]").nth(index)
    await expect(run).to_have_attribute("data-status", status, timeout=30_000)


async def wait_state(page: Page, state: str) -> None:
    await expect(tid(page, "conn-state")).to_have_attribute("data-state", state, timeout=20_000)


SNAPSHOT_JS = """() => [...document.querySelectorAll('#messages [data-testid]')].map((n) => ({
  testid: n.dataset.testid, cls: n.className, state: n.dataset.state || n.dataset.status || '',
  final: n.dataset.final || '', disabled: !!n.disabled,
  text: n.children.length ? '' : n.textContent,
}))"""


async def conversation(page: Page) -> list[dict[str, Any]]:
    """The conversation as structure and text: every element with a test id, in order."""
    return list(await page.evaluate(SNAPSHOT_JS))


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
