"""The per-connection channel cap (`max_channels_per_connection`) against a real hub: a Pusher
socket at the default cap gets `pusher:subscription_error` and stays open, an event stream
that asks for more channels than the cap is refused with 400 before it starts."""

import json

from rawsocket import handshake, pusher_path, text
from sse_stream import Stream
from waiting import eventually

from hub.models import AppSettings
from hub.pytest_plugin import RunningHub

CAP = AppSettings().max_channels_per_connection


async def test_a_pusher_socket_stops_at_the_default_cap(hub_server: RunningHub, raw) -> None:
    sock = await raw()
    subscribe = [
        text({"event": "pusher:subscribe", "data": {"channel": f"c{n}"}}) for n in range(CAP + 1)
    ]
    await sock.send(handshake(pusher_path(hub_server)), b"".join(subscribe))
    assert (await sock.head())[0] == 101
    assert (await sock.event())["event"] == "pusher:connection_established"
    for _ in range(CAP):
        assert (await sock.event())["event"] == "pusher_internal:subscription_succeeded"
    refused = await sock.event()
    assert (refused["event"], refused["channel"]) == ("pusher:subscription_error", f"c{CAP}")
    assert json.loads(refused["data"]) == {
        "type": "LimitReached",
        "error": f"at most {CAP} channels per connection",
        "status": 4004,
    }
    await sock.send(text({"event": "pusher:ping", "data": {}}))
    assert (await sock.event())["event"] == "pusher:pong"  # still open
    sock.close()


async def test_an_event_stream_over_the_cap_is_refused(hub_server: RunningHub) -> None:
    channels = [f"c{n}" for n in range(CAP + 1)]
    refused = await Stream.open(hub_server, channel=channels)
    assert (refused.status, await refused.error()) == (
        400,
        {"error": f"at most {CAP} channels per connection"},
    )
    refused.close()
    hub = hub_server.server.hub
    assert hub is not None
    await eventually(lambda: hub.connection_count(hub_server.app_id) == 0)
    assert hub.channel_count() == 0  # nothing left subscribed
    stream = await Stream.open(hub_server, channel=channels[:CAP])
    assert stream.status == 200
    stream.close()
