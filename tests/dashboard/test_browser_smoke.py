"""Proves the real-browser test machinery on its own, before any dashboard page is involved:
Debian's chromium launched through Playwright's async API on the same Tornado loop as the
`hub_server` fixture, loading a page the hub serves, at desktop and at phone width, and the
`screenshot` helper writing a PNG to docs/screenshots/."""

from typing import Any

from chromium import PHONE_WIDTH, browser, new_page, screenshot  # noqa: F401 (fixture)

from hub.pytest_plugin import RunningHub

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def test_chromium_loads_a_page_the_hub_serves(hub_server: RunningHub, browser: Any) -> None:  # noqa: F811
    page = await new_page(browser)
    await page.goto(f"{hub_server.url}/hub-resume.js")
    assert "HubResume" in await page.inner_text("body")
    assert await page.evaluate("window.innerWidth") == 1280

    path = await screenshot(page, "smoke")
    try:
        assert path.read_bytes().startswith(PNG_MAGIC)
    finally:
        # Only the README's own screenshots belong in docs/screenshots/.
        path.unlink(missing_ok=True)

    phone = await new_page(browser, width=PHONE_WIDTH, height=844)
    await phone.goto(f"{hub_server.url}/hub-resume.js")
    assert await phone.evaluate("window.innerWidth") == PHONE_WIDTH
