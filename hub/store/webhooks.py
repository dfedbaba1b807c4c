"""The store's SQL for webhooks (a mixin of hub.store.Store, which holds the connection): each
app's targets, and the outbox every webhook delivery is written to before it is sent, so that
a receiver that is down, or a hub that stops or is killed, loses none (hub/core/webhooks.py
sends them). With the outbox, `webhook_live` keeps what each target was told is live (the
occupied channels and added members whose vacated / removed it has not been sent yet), changed
in the transaction that stores the deliveries that tell it; `owe_vacated` turns what a killed
hub left there into the vacated / removed deliveries it owes.
"""

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from hub.store.transaction import run_in_transaction

PENDING, SENT, FAILED = "pending", "sent", "failed"
# hub_settings' record of which process sends the deliveries of a file several share.
SENDER = "webhook_sender"


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook target: `kinds` None wants every kind; `channel_prefix` "" every channel."""

    id: int
    app_id: str
    url: str
    kinds: tuple[str, ...] | None
    channel_prefix: str
    created_at: int
    # Added by an admin, who may aim it at link-local / metadata addresses (else guarded).
    link_local: bool = False

    def wants(self, kind: str, channel: str | None) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        return channel is None or channel.startswith(self.channel_prefix)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox: a batch of events for one target."""

    id: int
    webhook_id: int
    events: list[dict[str, Any]]
    created_at: int
    attempts: int
    next_attempt_at: int
    status: str
    last_status: int | None
    last_error: str | None
    last_attempt_at: int | None  # Unix ms the last attempt started
    latency_ms: int | None  # how long it took to answer or fail

    @property
    def kinds(self) -> list[str]:
        """The kinds in the batch, each once, in order."""
        return list(dict.fromkeys(str(event.get("name")) for event in self.events))


_WEBHOOK_COLUMNS = "id, app_id, url, kinds, channel_prefix, created_at, link_local"
_DELIVERY_COLUMNS = (
    "id, webhook_id, events, created_at, attempts, next_attempt_at, status, last_status,"
    " last_error, last_attempt_at, latency_ms"
)
# The outbox keeps the log of what was delivered for a while, then forgets it (prune_deliveries).
KEEP_SENT_MS = 24 * 3600 * 1000
KEEP_FAILED_MS = 7 * 24 * 3600 * 1000


class WebhooksStore:
    _db: aiosqlite.Connection

    async def add_webhook(
        self,
        app_id: str,
        url: str,
        kinds: tuple[str, ...] | None,
        channel_prefix: str,
        link_local: bool = False,
    ) -> Webhook:
        now = int(time.time())
        stored_kinds = None if kinds is None else json.dumps(kinds)
        cursor = await self._db.execute(
            "INSERT INTO webhooks (app_id, url, kinds, channel_prefix, created_at, link_local)"
            " VALUES (?,?,?,?,?,?)",
            (app_id, url, stored_kinds, channel_prefix, now, int(link_local)),
        )
        await self._db.commit()
        assert cursor.lastrowid is not None
        return Webhook(cursor.lastrowid, app_id, url, kinds, channel_prefix, now, link_local)

    async def list_webhooks(self, app_id: str | None = None) -> list[Webhook]:
        """The app's targets, or every app's, oldest first."""
        where, args = ("WHERE app_id = ?", (app_id,)) if app_id is not None else ("", ())
        async with self._db.execute(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks {where} ORDER BY id", args
        ) as cursor:
            return [_webhook(row) for row in await cursor.fetchall()]

    async def remove_webhook(self, app_id: str, webhook_id: int) -> bool:
        cursor = await self._db.execute(
            "DELETE FROM webhooks WHERE app_id = ? AND id = ?", (app_id, webhook_id)
        )
        await self._db.commit()
        return cursor.rowcount > 0

    # -- the outbox -------------------------------------------------------------------------

    async def enqueue_deliveries(self, batches: list[tuple[int, list[dict[str, Any]]]]) -> None:
        """Stores (webhook id, events) rows, due now, and what they tell each target is live
        (webhook_live), in one transaction. A target removed meanwhile drops its rows."""
        await run_in_transaction(self._db, _enqueue, batches)

    async def owe_vacated(self, max_batch: int) -> int:
        """Stores a member_removed for every member and a channel_vacated for every channel
        that a target was told is live and not told gone since (a killed hub's), members
        before their channel, at most `max_batch` events a delivery, and empties
        webhook_live, in one transaction. Returns how many events were stored."""
        return await run_in_transaction(self._db, _owe, max_batch)

    async def sender_turn(self, sender: str, now_ms: int, lease_ms: int) -> bool:
        """Whether `sender` sends this file's deliveries now: processes sharing the file take
        turns by a lease in hub_settings, held until `now_ms + lease_ms` and renewed by its
        holder; an expired one (its holder was killed) goes to whoever asks next."""
        return await run_in_transaction(self._db, _take_turn, sender, now_ms, lease_ms)

    async def pending_deliveries(self, limit: int) -> list[Delivery]:
        """The oldest pending rows, due or not, in the order they were stored."""
        async with self._db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_outbox WHERE status = ? ORDER BY id LIMIT ?",
            (PENDING, limit),
        ) as cursor:
            return [_delivery(row) for row in await cursor.fetchall()]

    async def record_attempt(
        self,
        delivery_id: int,
        status: str,
        next_attempt_at: int,
        last_status: int | None,
        last_error: str | None,
        attempted_at: int | None = None,
        latency_ms: int | None = None,
    ) -> None:
        """One attempt's outcome: the row's new status, when it is due again (pending), the
        HTTP status or error, when the attempt started (Unix ms) and how long it took."""
        await self._db.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, status = ?, next_attempt_at = ?,"
            " last_status = ?, last_error = ?, last_attempt_at = ?, latency_ms = ? WHERE id = ?",
            (
                status,
                next_attempt_at,
                last_status,
                last_error,
                attempted_at,
                latency_ms,
                delivery_id,
            ),
        )
        await self._db.commit()

    async def add_delivery(self, webhook_id: int, events: list[dict[str, Any]]) -> Delivery:
        """One delivery for one target, due now (a test ping)."""
        now_ms = int(time.time() * 1000)
        cursor = await self._db.execute(
            "INSERT INTO webhook_outbox (webhook_id, events, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?)",
            (webhook_id, json.dumps(events), now_ms, now_ms),
        )
        await self._db.commit()
        assert cursor.lastrowid is not None
        found = await self.delivery(cursor.lastrowid)
        assert found is not None
        return found

    async def delivery(self, delivery_id: int) -> Delivery | None:
        async with self._db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_outbox WHERE id = ?", (delivery_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _delivery(row)

    async def requeue_delivery(self, delivery_id: int) -> Delivery | None:
        """A delivery that is done (sent or failed) pending again, due now, its retry window
        starting now; `attempts` keeps counting. None when it is gone or already pending."""
        now_ms = int(time.time() * 1000)
        cursor = await self._db.execute(
            "UPDATE webhook_outbox SET status = ?, created_at = ?, next_attempt_at = ?"
            " WHERE id = ? AND status != ?",
            (PENDING, now_ms, now_ms, delivery_id, PENDING),
        )
        await self._db.commit()
        return await self.delivery(delivery_id) if cursor.rowcount else None

    async def prune_deliveries(self, now_ms: int | None = None) -> int:
        """Forgets sent deliveries last tried more than KEEP_SENT_MS ago and failed ones more
        than KEEP_FAILED_MS ago; pending ones are never pruned. Returns how many went."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cursor = await self._db.execute(
            "DELETE FROM webhook_outbox WHERE (status = ? AND COALESCE(last_attempt_at,"
            " created_at) < ?) OR (status = ? AND COALESCE(last_attempt_at, created_at) < ?)",
            (SENT, now_ms - KEEP_SENT_MS, FAILED, now_ms - KEEP_FAILED_MS),
        )
        await self._db.commit()
        return cursor.rowcount

    async def recent_deliveries(self, webhook_id: int, limit: int = 50) -> list[Delivery]:
        async with self._db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_outbox WHERE webhook_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (webhook_id, limit),
        ) as cursor:
            return [_delivery(row) for row in await cursor.fetchall()]


def _webhook(row: Any) -> Webhook:
    kinds = None if row["kinds"] is None else tuple(json.loads(row["kinds"]))
    return Webhook(
        row["id"],
        row["app_id"],
        row["url"],
        kinds,
        row["channel_prefix"],
        row["created_at"],
        bool(row["link_local"]),
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row["id"],
        row["webhook_id"],
        json.loads(row["events"]),
        row["created_at"],
        row["attempts"],
        row["next_attempt_at"],
        row["status"],
        row["last_status"],
        row["last_error"],
        row["last_attempt_at"],
        row["latency_ms"],
    )


# -- transactions run on aiosqlite's thread, whole (no other task's statement comes between) --

# What an event tells its target is live: (channel row or member row, inserted or deleted), and
# the kind that will later say it is gone (a target that does not want it keeps no row).
_LIVE_CHANGES = {
    "channel_occupied": (False, "channel_vacated"),
    "member_added": (True, "member_removed"),
    "channel_vacated": (False, None),
    "member_removed": (True, None),
}


def _enqueue(conn: sqlite3.Connection, batches: list[tuple[int, list[dict[str, Any]]]]) -> None:
    now_ms = int(time.time() * 1000)
    for hook, events in batches:
        stored = conn.execute(
            "INSERT INTO webhook_outbox (webhook_id, events, created_at, next_attempt_at)"
            " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",
            (hook, json.dumps(events), now_ms, now_ms, hook),
        )
        if not stored.rowcount:
            continue
        for event in events:
            change = _LIVE_CHANGES.get(event["name"])
            if change is None:
                continue
            is_member, gone_kind = change
            user_id = event.get("user_id", "") if is_member else ""
            if gone_kind is None:
                conn.execute(
                    "DELETE FROM webhook_live WHERE webhook_id = ? AND channel = ? AND user_id = ?",
                    (hook, event["channel"], user_id),
                )
                continue
            conn.execute(
                "INSERT OR IGNORE INTO webhook_live (webhook_id, channel, user_id)"
                " SELECT id, ?, ? FROM webhooks WHERE id = ? AND (kinds IS NULL"
                " OR EXISTS (SELECT 1 FROM json_each(webhooks.kinds) WHERE value = ?))",
                (event["channel"], user_id, hook, gone_kind),
            )


def _owe(conn: sqlite3.Connection, max_batch: int) -> int:
    # Per target and channel: its members (user_id not '') first, then the channel itself.
    rows = conn.execute(
        "SELECT webhook_id, channel, user_id FROM webhook_live"
        " ORDER BY webhook_id, channel, user_id = '', user_id"
    ).fetchall()
    owed: dict[int, list[dict[str, Any]]] = {}
    for hook, channel, user_id in rows:
        event = {"name": "channel_vacated", "channel": channel}
        if user_id:
            event = {"name": "member_removed", "channel": channel, "user_id": user_id}
        owed.setdefault(hook, []).append(event)
    now_ms = int(time.time() * 1000)
    conn.executemany(
        "INSERT INTO webhook_outbox (webhook_id, events, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?)",
        [
            (hook, json.dumps(events[start : start + max_batch]), now_ms, now_ms)
            for hook, events in owed.items()
            for start in range(0, len(events), max_batch)
        ],
    )
    conn.execute("DELETE FROM webhook_live")
    return len(rows)


def _take_turn(conn: sqlite3.Connection, sender: str, now_ms: int, lease_ms: int) -> bool:
    row = conn.execute("SELECT value FROM hub_settings WHERE name = ?", (SENDER,)).fetchone()
    if row is not None:
        holder, _, until = row[0].rpartition(" ")
        if holder != sender and until.isdigit() and int(until) > now_ms:
            return False
    conn.execute(
        "INSERT INTO hub_settings (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (SENDER, f"{sender} {now_ms + lease_ms}"),
    )
    return True
