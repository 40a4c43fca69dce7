"""`/docs` works with no network beyond the gateway (Swagger UI comes from a Python package, not
a CDN) and its Authorize button takes a bearer token that the calls then carry."""

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Route, expect

from tests.browser.pages import screenshot, watch_console
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_docs_render_offline_and_authorize_works(browser, page_stack: Stack) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=page_stack.url, timeout=10) as http:
        token = (await http.post("/ai/dev/token", json={"user_id": "docs"})).json()["token"]
        schema = (await http.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    context = await browser.new_context()
    outside: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(page_stack.url).netloc:
            await route.continue_()
        else:  # as with no internet: anything else fails
            outside.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_the_gateway)
    page = await context.new_page()
    errors = watch_console(page)
    await page.goto(f"{page_stack.url}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Switchboard")
    await page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    await expect(dialog).to_contain_text("HTTPBearer")
    await dialog.locator("input").first.fill(token)
    await dialog.locator("button.authorize").click()
    await dialog.locator("button.btn-done").click()
    operation = page.locator("#operations-sessions-list_sessions_ai_sessions_get")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await expect(status).to_contain_text("200", timeout=10_000)  # 401 without the token
    await expect(operation.locator(".curl")).to_contain_text(f"Authorization: Bearer {token}")
    await screenshot(page, "docs-authorized")
    assert outside == [] and errors == []
    await context.close()
