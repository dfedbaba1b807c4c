"""Which epoch a channel has after a restart: the same one when every commit of the last run is
surely in the store (a clean stop; a kill on the same boot of the machine; synchronous=FULL),
a new one otherwise, with the kept events and their seqs, so that a seq released before a lost
commit can never name another event. The real kills are in tests/test_crash.py; here the run
record a killed hub leaves behind is written by hand."""

import json
import sqlite3

import pytest
from conftest import WsClient

from hub.config import Settings
from hub.models import AppSettings, Event
from hub.pytest_plugin import RunningHub
from hub.server import HubServer
from hub.store.history import RUN_STATE, RUNNING, boot_id


async def first_run(settings: Settings) -> tuple[str, str]:
    """A hub that kept three events on "news" and stopped cleanly: (app id, epoch)."""
    server = await HubServer(settings).start()
    try:
        app = await server.store.create_app("kept", settings=AppSettings(history_depth=10))
        await server.apps.reload()
        for n in range(3):
            commit = server.hub.publish(app.id, Event("news", "tick", str(n)))
            assert commit is not None and await commit is None
        return app.id, server.hub.history.log(app.id, "news").epoch
    finally:
        await server.stop()


def leave_run_record(path: str, value: str) -> None:
    """What the store holds after a hub was killed while serving (the record of a clean stop
    replaced by that of a running hub)."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE hub_settings SET value = ? WHERE name = ?", (value, RUN_STATE))


@pytest.mark.parametrize(
    ("record", "synchronous", "same_epoch"),
    [
        (None, "normal", True),  # a clean stop
        (f"{RUNNING} {boot_id()}", "normal", True),  # killed; the machine kept running
        (f"{RUNNING} another-boot", "normal", False),  # killed, then the machine restarted
        (f"{RUNNING} another-boot", "full", True),  # every commit was synced
    ],
)
async def test_the_epoch_after_a_restart(
    tmp_path, record: str | None, synchronous: str, same_epoch: bool
) -> None:
    assert boot_id(), "this machine tells its boot id"
    settings = Settings(
        port=0, db_path=str(tmp_path / "hub.db"), reload_interval=0, db_synchronous=synchronous
    )
    app_id, epoch = await first_run(settings)
    if record is not None:
        leave_run_record(settings.db_path, record)

    server = await HubServer(settings).start()
    try:
        log = server.hub.history.log(app_id, "news")
        assert [(e.seq, e.data) for e in log.events] == [(1, "0"), (2, "1"), (3, "2")]
        assert (log.epoch == epoch) is same_epoch
        hub = RunningHub(server, (await server.store.get_app(app_id)))
        client = await WsClient.open(hub.pusher_url())
        await client.established()
        answer = await client.subscribe("news", since={"seq": 3, "epoch": epoch})
        assert answer["event"] == "pusher_internal:subscription_succeeded"
        if same_epoch:
            await client.nothing()
        else:
            gap = json.loads((await client.expect("hub:history_gap"))["data"])
            assert gap == {"reason": "epoch_changed", "epoch": log.epoch, "first_seq": 1}
            replayed = [await client.recv() for _ in range(3)]
            assert [(f["seq"], f["epoch"]) for f in replayed] == [(n, log.epoch) for n in (1, 2, 3)]
        client.close()
        renewed = log.epoch
    finally:
        await server.stop()

    # The store took the new epoch too: a clean restart continues in it.
    again = await HubServer(settings).start()
    try:
        assert again.hub.history.log(app_id, "news").epoch == renewed
    finally:
        await again.stop()
