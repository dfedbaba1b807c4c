"""The plugin's fixtures give a working hub: a client connects and receives an SDK trigger."""

from conftest import in_thread


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
