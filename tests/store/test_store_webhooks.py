"""The store's webhook targets and outbox (hub/store/webhooks.py): targets per app, gone with
their app; outbox rows stored in order, attempts recorded, rows of a removed target gone."""

from typing import Any

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


async def test_attempts_record_their_time_and_latency() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://x/h", None, "")
        ping = await store.add_delivery(hook.id, [{"name": "ping"}])
        assert (ping.status, ping.attempts, ping.last_attempt_at, ping.latency_ms) == (
            PENDING,
            0,
            None,
            None,
        )
        await store.record_attempt(ping.id, SENT, 0, 204, None, 1_700_000_000_000, 42)
        row = await store.delivery(ping.id)
        assert row is not None
        assert (row.status, row.last_status, row.last_attempt_at, row.latency_ms) == (
            SENT,
            204,
            1_700_000_000_000,
            42,
        )
        assert row.kinds == ["ping"]
    finally:
        await store.close()


async def test_a_done_delivery_is_requeued_with_a_fresh_window_and_its_attempts() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://x/h", None, "")
        row = await store.add_delivery(hook.id, [{"name": "ping"}])
        assert await store.requeue_delivery(row.id) is None  # pending already
        await store.record_attempt(row.id, FAILED, 0, 500, "HTTP 500", 1, 1)
        again = await store.requeue_delivery(row.id)
        assert again is not None
        assert (again.status, again.attempts) == (PENDING, 1)
        assert again.created_at >= row.created_at and again.next_attempt_at == again.created_at
        assert [r.id for r in await store.pending_deliveries(10)] == [row.id]
        assert await store.requeue_delivery(row.id + 1) is None  # no such row
    finally:
        await store.close()


async def test_pruning_forgets_old_sent_and_failed_rows_never_pending_ones() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://x/h", None, "")
        rows = [await store.add_delivery(hook.id, [{"name": "ping", "n": n}]) for n in range(5)]
        now = rows[0].created_at + 30 * 24 * 3600 * 1000  # a month later
        day = 24 * 3600 * 1000
        await store.record_attempt(rows[0].id, SENT, 0, 200, None, now - day - 1, 1)
        await store.record_attempt(rows[1].id, SENT, 0, 200, None, now - day + 1000, 1)
        await store.record_attempt(rows[2].id, FAILED, 0, 500, "x", now - 7 * day - 1, 1)
        await store.record_attempt(rows[3].id, FAILED, 0, 500, "x", now - 6 * day, 1)
        # rows[4] stays pending, however old.
        assert await store.prune_deliveries(now) == 2
        kept = [r.id for r in await store.recent_deliveries(hook.id)]
        assert kept == [rows[4].id, rows[3].id, rows[1].id]
        assert await store.prune_deliveries(now) == 0
    finally:
        await store.close()


def _live_rows(store: Store) -> Any:
    return store._db.execute_fetchall(
        "SELECT webhook_id, channel, user_id FROM webhook_live ORDER BY 1, 2, 3"
    )


async def test_what_a_target_was_told_is_live_is_kept_with_its_deliveries() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://x/h", None, "")
        # Told occupied, never told vacated: no row (nothing it would want to hear later).
        only_occupied = await store.add_webhook(app.id, "http://y/h", ("channel_occupied",), "")
        said = [
            {"name": "channel_occupied", "channel": "news"},
            {"name": "channel_occupied", "channel": "presence-r"},
            {"name": "member_added", "channel": "presence-r", "user_id": "ann"},
            {"name": "member_added", "channel": "presence-r", "user_id": "bob"},
            {"name": "channel_occupied", "channel": "gone"},
            {"name": "client_event", "channel": "news", "event": "client-x", "data": "{}"},
        ]
        await store.enqueue_deliveries([(hook.id, said), (only_occupied.id, said[:1])])
        await store.enqueue_deliveries(
            [
                (hook.id, [{"name": "channel_vacated", "channel": "gone"}]),
                (hook.id, [{"name": "member_removed", "channel": "presence-r", "user_id": "bob"}]),
            ]
        )
        assert [tuple(row) for row in await _live_rows(store)] == [
            (hook.id, "news", ""),
            (hook.id, "presence-r", ""),
            (hook.id, "presence-r", "ann"),
        ]
        before = {row.id for row in await store.pending_deliveries(100)}
        assert await store.owe_vacated(max_batch=2) == 3
        owed = [row for row in await store.pending_deliveries(100) if row.id not in before]
        # Members before their channel, at most two events a delivery, after what was stored.
        assert [(row.webhook_id, row.events) for row in owed] == [
            (
                hook.id,
                [
                    {"name": "channel_vacated", "channel": "news"},
                    {"name": "member_removed", "channel": "presence-r", "user_id": "ann"},
                ],
            ),
            (hook.id, [{"name": "channel_vacated", "channel": "presence-r"}]),
        ]
        assert min(row.id for row in owed) > max(before)
        assert await _live_rows(store) == []
        assert await store.owe_vacated(max_batch=2) == 0  # owed once
    finally:
        await store.close()


async def test_a_removed_target_leaves_nothing_live() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://x/h", None, "")
        await store.enqueue_deliveries([(hook.id, [{"name": "channel_occupied", "channel": "c"}])])
        await store.remove_webhook(app.id, hook.id)
        assert await _live_rows(store) == []
        assert await store.owe_vacated(max_batch=100) == 0
    finally:
        await store.close()
