"""Approve / Deny on the demo page: a tool call that requires approval, approved by a click in
one tab; the other tab's buttons are disabled once it is decided."""

import pytest
from playwright.async_api import expect

from tests.browser.pages import final_reply, send, sign_in, tid, wait_state
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_approve_on_the_page_runs_the_tool_in_every_tab(browser, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    first = await browser.new_page()
    errors: list[str] = []
    first.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(first, stack.url)
    await tid(first, "new-session").click()
    await wait_state(first, "live")
    second = await browser.new_page()  # its own sessionStorage: a second device
    await sign_in(second, first.url)
    await wait_state(second, "live")
    await send(first, "/approve get_time timezone=UTC")
    for page in (first, second):
        await expect(tid(page, "approve-button")).to_be_enabled(timeout=20_000)
    await tid(second, "approve-button").click()
    for page in (first, second):
        card = tid(page, "tool-card").last
        await expect(card.get_by_test_id("tool-result")).to_contain_text("UTC", timeout=20_000)
        await expect(card.get_by_test_id("approve-button")).to_be_disabled()
        await expect(card.get_by_test_id("deny-button")).to_be_disabled()
        assert "get_time tool returned" in await final_reply(page, -1)
    await expect(tid(second, "approval-state").last).to_have_text("approved")
    assert errors == []
