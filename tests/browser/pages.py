"""Steps on the demo page, by its data-testid attributes."""

from playwright.async_api import Page, expect


def tid(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(name)


async def sign_in(page: Page, url: str, user: str = "alice") -> None:
    await page.goto(url)
    await tid(page, "login-user").fill(user)
    await tid(page, "login-button").click()
    await expect(tid(page, "new-session")).to_be_visible()


async def send(page: Page, text: str) -> None:
    await tid(page, "message-input").fill(text)
    await tid(page, "send-button").click()


async def final_reply(page: Page, index: int = -1) -> str:
    """The text of a completed assistant reply (waits for it)."""
    replies = page.locator("[data-testid=msg-assistant][data-final=true]")
    await expect(replies.nth(index)).to_be_visible(timeout=20_000)
    return await replies.nth(index).locator(".text").inner_text()


async def wait_state(page: Page, state: str) -> None:
    await expect(tid(page, "conn-state")).to_have_attribute("data-state", state, timeout=20_000)
