"""The demo page as the reference front end, against every real service: a reload renders the
conversation exactly as the live view did (tool card, agent switch, audio line, error, a
cancelled run's partial output, per-message agent labels) at desktop and phone sizes; reloads
and second tabs mid-answer catch up; a message sent while busy is queued, then answered; the
session list shows titles; no console errors. Screenshots land in build/browser/."""

import pytest
from playwright.async_api import Page, expect

from tests.browser.pages import (
    SIZES,
    conversation,
    final_reply,
    new_session,
    run_ended,
    screenshot,
    send,
    sign_in,
    tid,
    wait_state,
    watch_console,
)
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(180)]

SCRIPT = [  # (message, how its run ends)
    ("/tool get_time timezone=UTC", "completed"),
    ("/agent travel", "completed"),
    ("/speak hello there", "completed"),
    ("/error", "failed"),
]


async def _cancelled_run(page: Page, index: int) -> None:
    """A long run, stopped after a few tokens: its partial output stays, marked cancelled."""
    await send(page, "/tokens 400 rate=20")
    streaming = page.locator("[data-testid=run]").nth(index).locator(".text")
    await expect(streaming).to_contain_text("t3 ", timeout=20_000)
    await tid(page, "cancel-button").click()
    await run_ended(page, index, "cancelled")


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_reload_renders_the_conversation_as_the_live_view_did(
    browser, page_stack: Stack, size: str
) -> None:  # type: ignore[no-untyped-def]
    width, height = SIZES[size]
    page = await browser.new_page(viewport={"width": width, "height": height})
    errors = watch_console(page)
    await sign_in(page, page_stack.url, user=f"reload-{size}")
    await new_session(page)
    for index, (message, status) in enumerate(SCRIPT):
        await send(page, message)
        await run_ended(page, index, status)
    await _cancelled_run(page, len(SCRIPT))
    await expect(tid(page, "session-title").first).to_have_text(SCRIPT[0][0])

    assert await tid(page, "tool-card").count() == 1
    await expect(tid(page, "tool-result")).to_contain_text('"timezone":"UTC"')
    switch = "Switched to travel (requested by the user)"
    await expect(tid(page, "agent-switch")).to_have_text(switch)
    await expect(tid(page, "audio")).to_contain_text("(complete)")
    await expect(tid(page, "msg-error")).to_contain_text("scripted_error")
    await expect(tid(page, "run-status")).to_have_text(["Run failed", "Run cancelled"])
    labels = await page.locator("[data-testid=msg-assistant] .who").all_inner_texts()
    assert labels == ["personal", "travel", "travel", "travel"]
    live = await conversation(page)
    await screenshot(page, f"{size}-live")

    await page.reload()
    await wait_state(page, "live")
    await run_ended(page, len(SCRIPT), "cancelled")  # stored a moment after the live view saw it
    await expect(page.locator("#messages [data-testid]")).to_have_count(len(live))
    assert await conversation(page) == live
    await screenshot(page, f"{size}-reloaded")
    await expect(tid(page, "session-title").first).to_have_text(SCRIPT[0][0])
    if size != "desktop":
        await _fits_a_phone(page, width)
    assert errors == []


async def _fits_a_phone(page: Page, width: int) -> None:
    """The chat has the width: no sideways scrolling, the list is a drawer off screen, replies
    wrap by words, not syllables."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    sidebar = await tid(page, "sidebar").bounding_box()
    assert sidebar is not None and sidebar["x"] + sidebar["width"] <= 0
    reply = await tid(page, "msg-assistant").first.bounding_box()
    assert reply is not None and reply["width"] > width * 0.6
    await tid(page, "sessions-toggle").click()
    await expect(tid(page, "session-item").first).to_be_in_viewport()


async def test_a_reload_and_a_second_tab_mid_answer_show_the_answer_so_far(
    browser, page_stack: Stack
) -> None:  # type: ignore[no-untyped-def]
    context = await browser.new_context()
    first = await context.new_page()
    errors = watch_console(first)
    await sign_in(first, page_stack.url, user="midway")
    await new_session(first)
    await send(first, "/tokens 300 rate=20")  # 15 s: the reload and the tab land mid-answer
    streaming = first.locator("[data-testid=msg-assistant] .text").last
    await expect(streaming).to_contain_text("t20 ", timeout=20_000)
    await first.reload()
    await wait_state(first, "live")
    await expect(streaming).to_contain_text("t1 t2 t3 ")  # from the start, not the live token
    second = await context.new_page()  # same browser: signed in already, its own device id
    second_errors = watch_console(second)
    await second.goto(first.url)
    await expect(tid(second, "login")).to_be_hidden()
    await wait_state(second, "live")
    live = second.locator("[data-testid=msg-assistant] .text").last
    await expect(live).to_contain_text("t1 t2 t3 t4 ", timeout=10_000)
    for page in (first, second):
        words = (await final_reply(page, -1)).split()
        assert words == [f"t{i}" for i in range(1, 301)]  # no gap, no duplicate
    ids = [await p.evaluate("window.switchboardTest.clientId()") for p in (first, second)]
    assert ids[0] != ids[1]
    assert errors == [] and second_errors == []
    await context.close()


async def test_a_message_sent_while_busy_is_queued_then_answered(
    browser, page_stack: Stack
) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page()
    errors = watch_console(page)
    await sign_in(page, page_stack.url, user="busy")
    await new_session(page)
    await send(page, "/tokens 400 rate=20")
    await expect(page.locator("[data-testid=msg-assistant] .text")).to_contain_text("t2 ")
    await send(page, "/tokens 3")
    queued = tid(page, "msg-user").nth(1)
    await expect(queued).to_have_attribute("data-state", "queued")
    await page.reload()  # still queued after a reload: the history says so too
    await wait_state(page, "live")
    await expect(queued).to_have_attribute("data-state", "queued")
    await tid(page, "cancel-button").click()
    await run_ended(page, 0, "cancelled")
    await run_ended(page, 1, "completed")
    await expect(queued).to_have_attribute("data-state", "sent")
    assert (await final_reply(page, -1)).split() == ["t1", "t2", "t3"]
    assert errors == []


async def test_a_duplicated_tab_takes_a_device_id_of_its_own(browser, page_stack: Stack) -> None:  # type: ignore[no-untyped-def]
    """A browser's "duplicate tab" copies sessionStorage, device id included: the tab that is
    replaced (close 4409) takes a new id and reconnects, so both stay live."""
    context = await browser.new_context()
    first = await context.new_page()
    errors = watch_console(first)
    await sign_in(first, page_stack.url, user="twins")
    await new_session(first)
    same_id = await first.evaluate("window.switchboardTest.clientId()")
    second = await context.new_page()
    await second.add_init_script(f"sessionStorage.setItem('sb-client-id', '{same_id}')")
    await second.goto(first.url)
    await wait_state(second, "live")
    renewed = f"window.switchboardTest.clientId() !== '{same_id}'"
    await first.wait_for_function(renewed, timeout=20_000)  # the older connection was replaced
    await wait_state(first, "live")
    assert await second.evaluate("window.switchboardTest.clientId()") == same_id
    await send(second, "/tokens 3")
    for page in (first, second):
        assert (await final_reply(page, -1)).split() == ["t1", "t2", "t3"]
    assert errors == []
    await context.close()


async def test_a_tool_call_waiting_for_approval_survives_a_reload(
    browser, page_stack: Stack
) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page()
    errors = watch_console(page)
    await sign_in(page, page_stack.url, user="approver")
    await new_session(page)
    await send(page, "/approve get_time timezone=UTC")
    await expect(tid(page, "approve-button")).to_be_enabled(timeout=20_000)
    await page.reload()  # the call still waits: its buttons come back from the catch-up state
    await wait_state(page, "live")
    await expect(tid(page, "approve-button")).to_be_enabled(timeout=20_000)
    await tid(page, "approve-button").click()
    await run_ended(page, 0, "completed")
    await expect(tid(page, "approval-state")).to_have_text("approved")
    live = await conversation(page)
    await page.reload()  # history may still show the run in progress: the page reads it again
    await wait_state(page, "live")
    await run_ended(page, 0, "completed")
    await expect(page.locator("#messages [data-testid]")).to_have_count(len(live))
    assert await conversation(page) == live
    assert errors == []
