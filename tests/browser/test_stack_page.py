"""The demo page served by the real gateway, with every service running as its own process."""

import pytest
from playwright.async_api import expect

from tests.browser.pages import final_reply, send, sign_in, tid, wait_state
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]
FIFTY = "".join(f"t{i} " for i in range(1, 51)).strip()


async def test_tokens_stream_and_the_page_resumes_after_a_drop(browser, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, stack.url)
    await tid(page, "new-session").click()
    await wait_state(page, "live")
    await send(page, "/tokens 50")
    assert (await final_reply(page, 0)).strip() == FIFTY, stack.logs()
    await page.evaluate("window.switchboardTest.drop()")
    await wait_state(page, "resumed")
    await send(page, "/tokens 3")
    assert (await final_reply(page, 1)).strip() == "t1 t2 t3"
    assert errors == []


async def test_a_second_tab_opened_mid_answer_shows_the_answer_so_far(
    browser, stack: Stack
) -> None:  # type: ignore[no-untyped-def]
    first = await browser.new_page()
    await sign_in(first, stack.url)
    await tid(first, "new-session").click()
    await wait_state(first, "live")
    await send(first, "/tokens 300 rate=20")  # 15 s: the second tab joins well before the end
    streaming = first.locator("[data-testid=msg-assistant] .text").last
    await expect(streaming).to_contain_text("t40 ", timeout=20_000)
    second = await browser.new_page()  # its own sessionStorage: a new device of the session
    await sign_in(second, first.url)
    await wait_state(second, "live")
    live = second.locator("[data-testid=msg-assistant]:not([data-final=true]) .text").last
    await expect(live).to_contain_text("t1 t2 t3 t4 ", timeout=10_000)  # the answer so far
    text = await live.inner_text()
    await expect(live).not_to_have_text(text, timeout=10_000)  # then it keeps streaming
    words = (await live.inner_text()).split()
    assert words == [f"t{i}" for i in range(1, len(words) + 1)]  # no gap, no duplicate
    reply = await final_reply(second, -1)
    assert reply.split() == [f"t{i}" for i in range(1, 301)]
    assert (await final_reply(first, -1)).split() == reply.split()
