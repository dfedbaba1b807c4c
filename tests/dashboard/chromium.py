"""Real headless Chromium for the dashboard's browser tests: Debian's `chromium` package
driven by Playwright for Python (never Playwright's own browser download, which cannot be
reached here). Without chromium or playwright the tests fail under CI (bin/test installs both
and sets HUB_REQUIRE_BROWSER) and skip elsewhere with the reason. `screenshot` writes
docs/screenshots/NAME.png for the README.

Test modules import the `browser` fixture from here: a second conftest.py would clash with
tests/conftest.py (both would be the module `conftest`)."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from required import missing

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE_WIDTH = 390
# Root needs --no-sandbox; the machine's closed network needs Chromium's background
# connections (updates, sync, QUIC probes) off, or they fail noisily at every start.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        missing("Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


@pytest.fixture
def browser(io_loop: Any) -> Iterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[test]')")
    executable = _chromium()
    driver = io_loop.run_sync(lambda: async_playwright().start(), timeout=30)
    try:
        launched = io_loop.run_sync(
            lambda: driver.chromium.launch(
                executable_path=executable, args=CHROMIUM_FLAGS, timeout=30_000
            ),
            timeout=40,
        )
        try:
            yield launched
        finally:
            io_loop.run_sync(launched.close, timeout=15)
    finally:
        io_loop.run_sync(driver.stop, timeout=15)


async def new_page(browser: Any, width: int = 1280, height: int = 800) -> Any:
    """A page in a fresh context (its own cookies), with every wait bounded at 10 s."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return page


async def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
