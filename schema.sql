-- The whole schema of the hub's SQLite store, at the version its last line records in PRAGMA
-- user_version: hub/store/migrations.py makes a new database from it, and brings an older one
-- up to it with numbered steps.

-- One row per app. `id` is digits for generated apps (the Pusher SDKs insist), free text for
-- the --dev app. `settings` is a JSON object of the per-app limits and switches that differ
-- from the defaults in hub/core/models.py (AppSettings).
-- `owner_id` (schema version 5): the dashboard user whose app it is; NULL for apps made by the
-- CLI or --dev, which only admins see.
CREATE TABLE IF NOT EXISTS apps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    owner_id    TEXT REFERENCES users(id) ON DELETE SET NULL
);

-- Key pairs. An app holds one or more, so a secret can be rotated without downtime: a new pair
-- is added, clients and servers move to it, then the old pair is revoked (deleted).
CREATE TABLE IF NOT EXISTS app_keys (
    key         TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS app_keys_by_app ON app_keys(app_id);

-- Allowed origins for websocket handshakes: exact origins or wildcard patterns.
-- No row for an app means any origin is allowed.
CREATE TABLE IF NOT EXISTS app_origins (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    pattern     TEXT NOT NULL,
    PRIMARY KEY (app_id, pattern)
);

-- Terminated users and sessions (schema version 2): a socket token of this user or session
-- minted at or before `revoked_at` (Unix seconds) is refused. A row is useless once every
-- such token is past the app's token_max_age, and is pruned then.
CREATE TABLE IF NOT EXISTS token_revocations (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'session')),
    subject     TEXT NOT NULL,
    revoked_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, kind, subject)
);

-- Kept channel history (schema version 6; 4 kept a row per channel per batch), written by the
-- hub's group commits (hub/core/commits.py, hub/core/history.py): a row ("batch") holds the
-- events one commit stored, every channel together, as a JSON array of
-- [app_id, channel, epoch, [[seq, name, data, time_ms, user_id], ...]]. Rows are appended in id
-- order and deleted once none of their events is kept, so a commit writes a page or two at the
-- table's end whatever the number of channels; there is no other index, the hub reads it only
-- at start. A deleted app's events go with the next deletions, not by a foreign key.
CREATE TABLE IF NOT EXISTS history_batches (
    id          INTEGER PRIMARY KEY,
    events      TEXT NOT NULL
);

-- Dashboard accounts (schema version 5). `role`: admin (everything) or developer (their own
-- apps). `password_hash` is argon2id, NULL for an invited account that has not chosen one yet.
CREATE TABLE IF NOT EXISTS users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash   TEXT,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'developer')),
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL
);

-- Signed-in dashboard sessions. The cookie carries the id, signed; only its SHA-256 is kept
-- here, so a copy of the database signs nobody in. Deleted at logout, when the user is
-- disabled, and once past their idle or absolute expiry.
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    id_hash         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    seen_at         INTEGER NOT NULL
);

-- Admin API tokens (`Authorization: Bearer ...`), acting as their user; only the SHA-256 of
-- the token is kept (it is 32 random bytes: a slow hash would add nothing).
CREATE TABLE IF NOT EXISTS api_tokens (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    used_at         INTEGER
);

-- Hub-wide switches and generated secrets (the cookie signing key, whether developers may sign
-- themselves up), one value per name.
CREATE TABLE IF NOT EXISTS hub_settings (
    name            TEXT PRIMARY KEY,
    value           TEXT NOT NULL
);

-- Webhook targets (schema version 7): where an app's webhooks go. `kinds` is a JSON list of the
-- event kinds the target wants, NULL for all; `channel_prefix` keeps only channels whose name
-- starts with it ('' for every channel). `link_local` (schema version 8) is 1 when an admin
-- added it, who may aim it at link-local and metadata addresses; 0 guards every delivery.
CREATE TABLE IF NOT EXISTS webhooks (
    id              INTEGER PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    kinds           TEXT,
    channel_prefix  TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    link_local      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS webhooks_by_app ON webhooks(app_id);

-- The webhook outbox (schema version 7; the last attempt's time and latency since 8): every webhook event is stored here before it is sent,
-- one row per delivery (a batch of events, JSON list), so none is lost to a receiver that is
-- down or a hub that stops; rows are retried until `next_attempt_at` (Unix ms) passes the
-- retry window, then marked failed.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    events          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    last_status     INTEGER,
    last_error      TEXT,
    last_attempt_at INTEGER,
    latency_ms      INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_outbox_by_status ON webhook_outbox(status, id);
CREATE INDEX IF NOT EXISTS webhook_outbox_by_webhook ON webhook_outbox(webhook_id, id);

-- What each webhook target has been told is live (schema version 8): a channel it was sent
-- channel_occupied for (user_id ''), a presence member it was sent member_added for, until the
-- matching vacated / removed is stored. A clean stop stores those and empties the table; rows
-- found at start are what a killed hub left live, and their vacated / removed are sent then.
CREATE TABLE IF NOT EXISTS webhook_live (
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (webhook_id, channel, user_id)
) WITHOUT ROWID;

-- The version this file describes: one more than hub/store/migrations.py's last step (the
-- store's tests check it).
PRAGMA user_version = 8;
