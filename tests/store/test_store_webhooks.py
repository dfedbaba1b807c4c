"""The store's webhook targets and outbox (hub/store/webhooks.py): targets per app, gone with
their app; outbox rows stored in order, attempts recorded, rows of a removed target gone."""

from hub.store import Store
from hub.store.webhooks import FAILED, PENDING, SENT


async def test_targets_belong_to_their_app_and_go_with_it() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        other = await store.create_app("b")
        hook = await store.add_webhook(app.id, "http://x/h", ("channel_occupied",), "private-")
        await store.add_webhook(other.id, "http://y/h", None, "")
        assert await store.list_webhooks(app.id) == [hook]
        assert hook.wants("channel_occupied", "private-a")
        assert not hook.wants("channel_occupied", "public")
        assert not hook.wants("member_added", "private-a")
        assert not await store.remove_webhook(other.id, hook.id)  # not that app's
        await store.delete_app(app.id)
        assert [h.url for h in await store.list_webhooks()] == ["http://y/h"]
    finally:
        await store.close()


async def test_outbox_rows_keep_their_order_and_attempts() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://x/h", None, "")
        gone = await store.add_webhook(app.id, "http://z/h", None, "")
        await store.remove_webhook(app.id, gone.id)
        await store.enqueue_deliveries(
            [(hook.id, [{"name": "channel_occupied", "channel": str(n)}]) for n in range(3)]
            + [(gone.id, [{"name": "channel_occupied", "channel": "x"}])]
        )
        rows = await store.pending_deliveries(10)
        assert [row.events[0]["channel"] for row in rows] == ["0", "1", "2"]
        assert all(row.status == PENDING and row.attempts == 0 for row in rows)
        await store.record_attempt(rows[0].id, SENT, 0, 200, None)
        await store.record_attempt(rows[1].id, FAILED, 0, 500, "HTTP 500")
        assert [row.id for row in await store.pending_deliveries(10)] == [rows[2].id]
        log = await store.recent_deliveries(hook.id)
        assert [(r.status, r.attempts, r.last_status) for r in log] == [
            (PENDING, 0, None),
            (FAILED, 1, 500),
            (SENT, 1, 200),
        ]
    finally:
        await store.close()
