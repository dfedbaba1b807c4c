"""soketi's metric names on GET /metrics (hub/api/metrics.py: `soketi_families`), each with
soketi's type and `port` label, moving with real traffic: a Pusher client that connects,
subscribes, gets an event and goes, and HTTP API calls on the publishing fast path and on
Tornado's handlers."""

import json

from conftest import call
from test_metrics import parse, scrape, scrape_text, scraped

from hub.pytest_plugin import RunningHub

# soketi's names and types (its src/metrics/prometheus-metrics-driver.ts).
TYPES = {
    "soketi_connected": "gauge",
    "soketi_new_connections_total": "counter",
    "soketi_new_disconnections_total": "counter",
    "soketi_socket_received_bytes": "counter",
    "soketi_socket_transmitted_bytes": "counter",
    "soketi_ws_messages_received_total": "counter",
    "soketi_ws_messages_sent_total": "counter",
    "soketi_http_received_bytes": "counter",
    "soketi_http_transmitted_bytes": "counter",
    "soketi_http_calls_received_total": "counter",
}


def sample(hub: RunningHub, name: str) -> str:
    return f'{name}{{port="{hub.port}"}}'


async def test_every_soketi_name_is_there_with_its_type(hub_server: RunningHub) -> None:
    text = await scrape_text(hub_server)
    for name, kind in TYPES.items():
        assert f"\n# TYPE {name} {kind}\n" in text, name
    samples = parse(text)
    assert {name for name in samples if name.startswith("soketi_")} == {
        sample(hub_server, name) for name in TYPES
    }


async def test_soketi_names_move_with_real_traffic(hub_server: RunningHub, connect) -> None:
    def moved(before: dict[str, float], now: dict[str, float], name: str) -> float:
        return now[sample(hub_server, name)] - before[sample(hub_server, name)]

    before = await scrape(hub_server)
    client = await connect()
    assert (await client.subscribe("news"))["event"] == "pusher_internal:subscription_succeeded"
    event = {"name": "e", "channel": "news", "data": "hello"}
    path = f"/apps/{hub_server.app_id}"
    assert await call(hub_server, "POST", f"{path}/events", event) == (200, {})  # the fast path
    await client.expect("e")
    status, channels = await call(hub_server, "GET", f"{path}/channels")  # Tornado's handler
    assert status == 200
    now = await scrape(hub_server)
    assert moved(before, now, "soketi_connected") == 1
    assert moved(before, now, "soketi_new_connections_total") == 1
    assert moved(before, now, "soketi_ws_messages_received_total") == 1  # the subscribe
    # connection_established, subscription_succeeded, the event
    assert moved(before, now, "soketi_ws_messages_sent_total") == 3
    assert moved(before, now, "soketi_socket_received_bytes") > len('{"event":"pusher:subscribe"')
    assert moved(before, now, "soketi_socket_transmitted_bytes") > len("hello") * 3
    assert moved(before, now, "soketi_http_calls_received_total") == 2
    assert moved(before, now, "soketi_http_received_bytes") == len(json.dumps(event))
    answers = len("{}") + len(json.dumps(channels, separators=(",", ":")))
    assert moved(before, now, "soketi_http_transmitted_bytes") == answers

    client.close()
    gone = {
        sample(hub_server, "soketi_connected"): before[sample(hub_server, "soketi_connected")],
        sample(hub_server, "soketi_new_disconnections_total"): before[
            sample(hub_server, "soketi_new_disconnections_total")
        ]
        + 1,
    }
    await scraped(hub_server, gone)
