"""Behind a TLS-terminating reverse proxy (`trust_proxy`): the session cookie is Secure when the
proxy says the browser used https, and failed sign-ins count against the browser's address,
not the proxy's. Without the setting those headers are ignored (see test_pages.py)."""

from typing import Any

import pytest
from dashboard_client import DashboardClient

from hub.auth.passwords import hash_password
from hub.pytest_plugin import RunningHub

PASSWORD = "correct horse battery"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"trust_proxy": True}


async def test_cookies_and_addresses_come_from_the_proxy(hub_server: RunningHub) -> None:
    await hub_server.server.store.create_user(
        "dev@example.com", "developer", hash_password(PASSWORD)
    )
    browser = DashboardClient(hub_server.url)
    await browser.request("GET", "/dashboard/login", headers=FORWARDED)
    wrong = await browser.request(
        "POST",
        "/dashboard/login",
        {"email": "dev@example.com", "password": "no"},
        headers=FORWARDED,
    )
    assert wrong.code == 401
    assert "ip:203.0.113.9" in hub_server.server.dashboard.throttle._failures
    good = await browser.request(
        "POST",
        "/dashboard/login",
        {"email": "dev@example.com", "password": PASSWORD},
        headers=FORWARDED,
    )
    assert good.code == 302 and "Secure" in good.headers["Set-Cookie"]
