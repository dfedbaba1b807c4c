-- The whole schema of the hub's SQLite store. hub/store.py applies it to a new database and
-- records SCHEMA_VERSION in PRAGMA user_version; later versions add numbered migrations.

-- One row per app. `id` is digits for generated apps (the Pusher SDKs insist), free text for
-- the --dev app. `settings` is a JSON object of the per-app limits and switches that differ
-- from the defaults in hub/core/models.py (AppSettings).
CREATE TABLE IF NOT EXISTS apps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
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

-- Kept channel history (schema version 3), written behind the in-memory logs in batches:
-- per channel, the rows of its current epoch from the oldest event still kept. `data` is the
-- event data: the string itself (events published through the HTTP API), or, when `is_json`
-- is 1, the JSON of a value (client events and pushes).
CREATE TABLE IF NOT EXISTS channel_events (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    epoch       TEXT NOT NULL,
    name        TEXT NOT NULL,
    data        TEXT NOT NULL,
    is_json     INTEGER NOT NULL,
    user_id     TEXT,
    time_ms     INTEGER NOT NULL,
    PRIMARY KEY (app_id, channel, seq)
) WITHOUT ROWID;
