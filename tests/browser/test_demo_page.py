"""The demo page in headless Chromium against the in-test gateway: chat, resume, two tabs."""

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import expect

from tests.browser.conftest import STATIC
from tests.browser.pages import final_reply, send, sign_in, tid, wait_state
from tests.client.fake_gateway import FakeGateway, running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]
FIFTY = "".join(f"t{i} " for i in range(1, 51)).strip()


@pytest.fixture
async def site() -> AsyncIterator[FakeGateway]:
    async with running(FakeGateway(static_dir=STATIC, ack_window=16)) as gw:
        yield gw


async def test_chat_streams_a_full_reply_and_resumes_after_a_drop(browser, site) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, site.url)
    await tid(page, "new-session").click()
    await wait_state(page, "live")
    await send(page, "/tokens 50")
    assert (await final_reply(page, 0)).strip() == FIFTY
    await page.evaluate("window.switchboardTest.drop()")
    await wait_state(page, "resumed")
    await send(page, "/tool get_time")
    await expect(tid(page, "tool-result")).to_contain_text("12:00")
    assert (await final_reply(page, 1)).strip() == "The time is 12:00."
    await send(page, "/agent travel")
    await expect(tid(page, "agent-badge")).to_have_text("travel")
    assert [h["resumed"] for h in site.hellos] == [False, True]
    assert errors == []


async def test_two_tabs_of_one_session_stay_in_sync(browser, site) -> None:  # type: ignore[no-untyped-def]
    context = await browser.new_context()
    first, second = await context.new_page(), await context.new_page()
    await sign_in(first, site.url)
    await tid(first, "new-session").click()
    await wait_state(first, "live")
    await sign_in(second, first.url)  # same ?session=, its own client_id (sessionStorage)
    await wait_state(second, "live")
    await send(first, "/tokens 5")
    assert (await final_reply(second)).strip() == "t1 t2 t3 t4 t5"
    await expect(second.locator(".msg.user.other")).to_have_text("/tokens 5")
    client_ids = {h["client_id"] for h in site.hellos}
    assert len(client_ids) == 2
    await context.close()


async def test_a_dropped_page_resumes_by_cursor_a_reload_starts_from_history(browser, site) -> None:  # type: ignore[no-untyped-def]
    """Within the page the stream resumes by the cursor of the last event handled; a reload
    rebuilds the conversation from history and connects without one (the hello's catch-up
    joins the live tail exactly; history may be a moment behind the stream)."""
    page = await browser.new_page()
    await sign_in(page, site.url)
    await tid(page, "new-session").click()
    await wait_state(page, "live")
    await send(page, "/tokens 5")
    assert (await final_reply(page, 0)).strip() == "t1 t2 t3 t4 t5"
    (sid,) = site.sessions
    handled = site.cursors(sid)[-1]
    await page.evaluate("window.switchboardTest.drop()")
    await wait_state(page, "resumed")
    assert site.auth_frames[-1]["cursor"] == handled and site.hellos[-1]["recovered"]
    await page.reload()
    await wait_state(page, "live")
    assert "cursor" not in site.auth_frames[-1] and not site.hellos[-1]["recovered"]
    await send(page, "/tokens 3")
    assert (await final_reply(page, 1)).strip() == "t1 t2 t3"
    await expect(page.locator("[data-testid=msg-assistant]")).to_have_count(2)
