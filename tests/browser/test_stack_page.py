"""The demo page served by the real gateway, with every service running as its own process."""

import pytest

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
