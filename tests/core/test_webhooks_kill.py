"""What a killed hub owes its webhook targets (hub/core/webhook_events.py, `owe_vacated`): a
real hub process with Pusher clients live in a public and a presence channel is killed with
SIGKILL; started again, it sends the channel_vacated and member_removed the receiver would
otherwise never hear, signed, before anything of the new run (a client that comes back gets
its channel_occupied after them). A SIGTERM stop owes nothing: it stores its vacated itself,
and the next start sends each once."""

import signal
import sqlite3
from pathlib import Path
from typing import Any

import pusher
from conftest import WsClient
from hubprocess import AppKeys, HubProcess, create_app, free_port, hub_command
from waiting import eventually
from webhook_receiver import Receiver, kinds, validated

WAIT = 10.0
HUB_ENV = {
    "HUB_WEBHOOK_VACATE_DELAY": "0.3",
    "HUB_WEBHOOK_BATCH_WINDOW": "0.02",
    "HUB_WEBHOOK_FIRST_RETRY": "0.1",
}
LIVE = [
    ("channel_occupied", "news"),
    ("channel_occupied", "presence-room"),
    ("member_added", "presence-room", "ann"),
]


async def client(hub: HubProcess, app: AppKeys, *channels: str) -> WsClient:
    """An established Pusher socket subscribed to `channels` (presence ones as user "ann")."""
    ws = await WsClient.open(f"ws://{hub.host}:{hub.port}/app/{app.key}?protocol=7&client=py")
    socket_id = await ws.established()
    sdk = pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret)
    for channel in channels:
        auth: dict[str, Any] = {}
        if channel.startswith("presence-"):
            auth = sdk.authenticate(channel, socket_id, {"user_id": "ann", "user_info": {}})
        answer = await ws.subscribe(channel, **auth)
        assert answer["event"] == "pusher_internal:subscription_succeeded", answer
    return ws


def live_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT webhook_id, channel, user_id FROM webhook_live").fetchall()


async def hub_with_a_receiver(tmp_path: Path) -> tuple[HubProcess, Receiver]:
    receiver = Receiver().start()
    db = tmp_path / "hub.db"
    app = create_app(db, "kill")
    hub_command(db, "apps", "webhooks", "add", app.id, receiver.url)
    return HubProcess(db, free_port(), app, tmp_path / "hub.log", **HUB_ENV), receiver


async def test_a_killed_hub_sends_the_vacated_and_removed_it_owed_after_a_restart(
    tmp_path: Path,
) -> None:
    hub, receiver = await hub_with_a_receiver(tmp_path)
    try:
        await hub.start()
        ann = await client(hub, hub.app, "news", "presence-room")
        await eventually(lambda: kinds(receiver, counts=False) == LIVE, WAIT)
        assert len(live_rows(hub.db)) == 3
        hub.kill()
        ann.close()
        await hub.start()
        owed = [
            ("channel_vacated", "news"),
            ("member_removed", "presence-room", "ann"),
            ("channel_vacated", "presence-room"),
        ]
        await eventually(lambda: kinds(receiver, counts=False) == LIVE + owed, WAIT)
        assert live_rows(hub.db) == []
        back = await client(hub, hub.app, "news")
        await eventually(
            lambda: kinds(receiver, counts=False) == [*LIVE, *owed, ("channel_occupied", "news")],
            WAIT,
        )
        back.close()
        app = hub.app
        assert len(validated(receiver, app.key, app.secret)) == len(receiver.requests)
    finally:
        hub.kill()
        await receiver.stop()


async def test_a_stopped_hub_owes_nothing_and_says_each_vacated_once(tmp_path: Path) -> None:
    hub, receiver = await hub_with_a_receiver(tmp_path)
    try:
        await hub.start()
        ann = await client(hub, hub.app, "news", "presence-room")
        await eventually(lambda: kinds(receiver, counts=False) == LIVE, WAIT)
        hub.signal(signal.SIGTERM)
        assert await ann.closed() == 4200
        assert await hub.exited(WAIT) == 0, hub.output()
        assert live_rows(hub.db) == []  # the stop stored its vacated with the rest
        await hub.start()
        gone = [
            ("member_removed", "presence-room", "ann"),
            ("channel_vacated", "presence-room"),
            ("channel_vacated", "news"),
        ]
        said = lambda: sorted(kinds(receiver, counts=False)[len(LIVE) :])  # noqa: E731
        await eventually(lambda: said() == sorted(gone), WAIT)
        await hub.stop()
        assert said() == sorted(gone)  # each once
    finally:
        hub.kill()
        await receiver.stop()
