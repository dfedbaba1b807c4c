"""The plugin's fixtures give a working hub: a client connects and receives an SDK trigger."""

import os

from conftest import in_thread

from hub.pytest_plugin import TEST_REDIS_VARIABLE, redis_overrides


async def test_sdk_trigger_reaches_a_subscriber(connect, sdk):
    client = await connect()
    assert (await client.subscribe("news"))["event"] == "pusher_internal:subscription_succeeded"
    await in_thread(sdk.trigger, "news", "breaking", {"title": "hi"})
    frame = await client.expect("breaking")
    assert frame == {
        "event": "breaking",
        "channel": "news",
        "data": '{"title": "hi"}',
        "seq": 1,
        "epoch": frame["epoch"],
    }


def test_thread_fixture_serves_sync_tests(hub_thread):
    import pusher

    client = pusher.Pusher(
        app_id=hub_thread.app_id,
        key=hub_thread.key,
        secret=hub_thread.secret,
        host=hub_thread.host,
        port=hub_thread.port,
        ssl=False,
    )
    assert client.channels_info() == {"channels": {}}


async def test_the_redis_pass_puts_each_test_hub_on_its_redis_in_a_namespace_of_its_own(
    hub_server, monkeypatch
) -> None:
    # Both passes run this: the first checks the hub is alone, the Redis pass that it is a node.
    url = os.environ.get(TEST_REDIS_VARIABLE, "")
    settings = hub_server.server.settings
    assert settings.redis_url == url
    assert (hub_server.server.app_sync is not None) is bool(url)
    monkeypatch.setenv(TEST_REDIS_VARIABLE, "redis://127.0.0.1:6379/0")
    one, other = redis_overrides(), redis_overrides()
    assert one["redis_url"] == other["redis_url"] == "redis://127.0.0.1:6379/0"
    assert one["redis_namespace"] != other["redis_namespace"]
    if url:
        assert settings.redis_namespace.startswith("t") and len(settings.redis_namespace) == 33
    monkeypatch.delenv(TEST_REDIS_VARIABLE)
    assert redis_overrides() == {}
