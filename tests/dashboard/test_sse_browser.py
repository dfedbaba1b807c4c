"""A real EventSource, in headless Chromium, following a channel through a hub restart.

The page comes from another origin than the hub (http://app.localhost/, fulfilled by
Playwright), so its stream is a CORS request, allowed by the app's origin list. Events 1..N
arrive live; the hub stops and a new one starts on the same port and database; the events
published before the browser reconnects come back through its `Last-Event-ID`, the rest
live: each exactly once, in order, in the one epoch, with no `hub:history_gap`.

Chromium's reconnects are made deterministic by routing the page's requests for the stream:
the first reconnect goes out while the hub is down (and is refused); the next is held until
the new hub is up and has published, then let through.

Chromium's Local Network Access lets a page reach a loopback address (the hub here) only from
a secure context with the `local-network-access` permission: hence a `*.localhost` origin
(secure, though plain http) and the permission granted to it. A hub on a public address, as
in production, needs neither."""

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from chromium import browser, new_page  # noqa: F401 (fixture)
from conftest import call
from playwright.async_api import TimeoutError as PlaywrightTimeout
from waiting import eventually

from hub.config import Settings
from hub.models import App
from hub.pytest_plugin import RunningHub
from hub.server import HubServer
from hub.wire.sse_handler import SseHandler

N = 10  # events before the restart, and after it
MISSED = 3  # of those after, published while the browser is not connected
EVENT = "news-item"
PAGE_ORIGIN = "http://app.localhost"
WAIT_MS = 20_000  # any one wait in the browser


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_html(stream_url: str) -> str:
    return f"""<!doctype html><meta charset="utf-8"><title>news</title>
<script>
window.received = [];
window.opens = 0;
window.errors = 0;
const source = new EventSource({json.dumps(stream_url)});
source.onopen = () => {{ window.opens += 1; }};
source.onerror = () => {{ window.errors += 1; }};
for (const name of [{json.dumps(EVENT)}, "hub:history_gap"]) {{
  source.addEventListener(name, (e) => {{
    window.received.push({{type: e.type, id: e.lastEventId, data: e.data}});
  }});
}}
</script>"""


async def publish(hub: RunningHub, numbers: range) -> None:
    """Events `numbers` on "news", one signed HTTP API call each, in order."""
    for n in numbers:
        body = {"name": EVENT, "channel": "news", "data": str(n)}
        assert await call(hub, "POST", f"/apps/{hub.app_id}/events", body) == (200, {})


async def start_hub(settings: Settings, app: App | None = None) -> RunningHub:
    """A hub on `settings`; the first one creates the app (history on, the page's origin
    allowed), a restarted one finds it in the database."""
    server = HubServer(settings)
    await server.start()
    if app is None:
        assert server.store is not None and server.apps is not None
        app = await server.store.create_app("news site", origins=(PAGE_ORIGIN,))
        await server.apps.reload()
    return RunningHub(server, app)


async def page_until(page: Any, expression: str) -> None:
    """Waits (bounded) until `expression` holds in the page; a timeout says what it had."""
    try:
        await page.wait_for_function(expression, timeout=WAIT_MS)
    except PlaywrightTimeout:
        state = await page.evaluate("({opens, errors, received})")
        raise AssertionError(f"{expression} never held; the page had {state}") from None


async def test_event_source_resumes_through_a_restart(
    browser: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chromium adds Last-Event-ID below what Playwright reports of a request, so the headers
    # each stream request arrived with are recorded on the hub's side.
    arrived: list[tuple[str | None, str | None]] = []  # (Origin, Last-Event-ID)

    def prepare(handler: SseHandler) -> None:
        headers = handler.request.headers
        arrived.append((headers.get("Origin"), headers.get("Last-Event-ID")))

    monkeypatch.setattr(SseHandler, "prepare", prepare)
    settings = Settings(
        host="127.0.0.1",
        port=free_port(),
        db_path=str(tmp_path / "hub.db"),
        reload_interval=0.2,
        shutdown_grace=1.0,
    )
    first = await start_hub(settings)
    app = first.app
    running: RunningHub | None = first  # the hub up now, None while there is none
    assert app.settings.history_depth >= 2 * N, "history must keep every event"
    stream_url = f"http://127.0.0.1:{settings.port}/apps/{first.key}/sse?channel=news"
    requests: list[str] = []  # the stream's requests, as the page made them
    release = asyncio.Event()  # lets the held reconnect through

    async def the_page(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=page_html(stream_url))

    async def the_stream(route: Any) -> None:
        requests.append(route.request.url)
        if len(requests) >= 3:  # the first reconnect met no hub; this one waits for the new one
            await asyncio.wait_for(release.wait(), WAIT_MS / 1000)
        await route.continue_()

    page = None
    try:
        page = await new_page(browser)
        await page.context.grant_permissions(["local-network-access"], origin=PAGE_ORIGIN)
        await page.route(f"{PAGE_ORIGIN}/**", the_page)
        await page.route(stream_url, the_stream)
        await page.goto(f"{PAGE_ORIGIN}/")
        await page_until(page, "opens === 1")

        await publish(running, range(1, N + 1))
        await page_until(page, f"received.length >= {N}")

        await running.server.stop()
        running = None
        # The stream ended (an error), the reconnect was refused (another), a third is held.
        await page_until(page, "errors >= 2")
        await eventually(lambda: len(requests) >= 3, WAIT_MS / 1000, interval=0.05)
        assert await page.evaluate("opens") == 1

        running = await start_hub(settings, app)
        await publish(running, range(N + 1, N + MISSED + 1))  # while the browser is away
        release.set()
        await page_until(page, "opens === 2")
        await publish(running, range(N + MISSED + 1, 2 * N + 1))
        await page_until(page, f"received.length >= {2 * N}")
        await asyncio.sleep(0.3)  # room for a duplicate to show
        received = await page.evaluate("received")
        opens, errors = await page.evaluate("[opens, errors]")
    finally:
        release.set()
        if page is not None:
            await page.context.close()
        if running is not None:
            await running.server.stop()

    assert [r["type"] for r in received] == [EVENT] * (2 * N), "no hub:history_gap"
    assert [r["data"] for r in received] == [str(n) for n in range(1, 2 * N + 1)]
    epochs = {r["id"].rpartition(":")[0] for r in received}
    assert len(epochs) == 1, f"the restart kept the channel's epoch: {epochs}"
    assert [int(r["id"].rpartition(":")[2]) for r in received] == list(range(1, 2 * N + 1))
    (epoch,) = epochs
    # Three requests: the first, the reconnect the stopped hub refused, the one held. Two
    # reached a hub: the first with no id to give, the reconnect with the last id received
    # before the stop; N+1..N+MISSED came as its replay, as they were published before it.
    assert len(requests) == 3 and (opens, errors) == (2, 2), (requests, opens, errors)
    assert arrived == [(PAGE_ORIGIN, None), (PAGE_ORIGIN, f"{epoch}:{N}")]
