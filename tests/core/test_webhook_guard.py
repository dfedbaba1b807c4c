"""Link-local and metadata addresses (hub/core/webhooks.py): the app service refuses them in a
developer's URL, however they are written, and the worker refuses to connect to them for a
target no admin allowed them to, even when the URL got past the service (a name, or a target
from schema version 7); an admin's target reaches them."""

from typing import Any

import pytest
from conftest import WAIT
from waiting import eventually
from webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401 (fixture)

from hub.core.webhooks import is_metadata_address
from hub.pytest_plugin import RunningHub
from hub.services.apps import AppChangeRefused, AppService
from hub.store.webhooks import FAILED, PENDING, SENT


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"webhook_first_retry": 0.05, "webhook_retry_for": 0.3, "webhook_timeout": 1.0}


@pytest.mark.parametrize(
    ("host", "metadata"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("[fd00:ec2::254]", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("::ffff:169.254.169.254", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("::1", False),
        ("metadata.google.internal", False),  # a name: checked as it resolves
    ],
)
def test_metadata_addresses_however_written(host: str, metadata: bool) -> None:
    assert is_metadata_address(host) is metadata


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest", "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/"],
)
async def test_a_developer_may_not_aim_a_target_at_them(hub_server: RunningHub, url: str) -> None:
    service = AppService(hub_server.server.store, hub_server.server.apps)
    with pytest.raises(AppChangeRefused, match="link-local or metadata address"):
        await service.add_webhook(hub_server.app_id, url)
    admins = await service.add_webhook(hub_server.app_id, url, allow_link_local=True)
    assert admins.link_local


async def test_the_worker_does_not_connect_there_for_a_guarded_target(
    hub_server: RunningHub,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    store, service = (
        hub_server.server.store,
        AppService(hub_server.server.store, hub_server.server.apps),
    )
    # As a version 7 target, or one whose name resolves there, would be: past the service
    # (an address written out goes the same way, through the resolver, as a name).
    guarded = await store.add_webhook(hub_server.app_id, "http://169.254.169.254:9/h", None, "")
    allowed = await service.add_webhook(
        hub_server.app_id, webhook_receiver.url, allow_link_local=True
    )
    await hub_server.server.apps.reload()
    refused = await service.ping_webhook(hub_server.app_id, guarded.id)
    reached = await service.ping_webhook(hub_server.app_id, allowed.id)

    async def done() -> bool:
        rows = [await store.delivery(refused.id), await store.delivery(reached.id)]
        return all(row is not None and row.status != PENDING for row in rows)

    await eventually(done, WAIT)
    failed = await store.delivery(refused.id)
    assert failed is not None and failed.status == FAILED and failed.last_status is None
    assert "link-local or metadata address" in (failed.last_error or "")
    sent = await store.delivery(reached.id)
    assert sent is not None and sent.status == SENT
    assert webhook_receiver.event_names == ["ping"]
