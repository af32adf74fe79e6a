-- The node agent's crash-safe outbox. Applied in order by agent/src/outbox/mod.rs, tracked in
-- PRAGMA user_version.

-- Where to deliver each workspace's messages, so a restarted agent can drain rows left by
-- an earlier run without being told again.
CREATE TABLE workspaces (
    workspace_id   TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    api_url        TEXT NOT NULL,
    callback_token TEXT NOT NULL
);

-- The next sequence number of each session. Kept apart from the outbox because delivered
-- rows are deleted, and a sequence must never be reused.
CREATE TABLE session_seq (
    session_id TEXT PRIMARY KEY,
    next_seq   INTEGER NOT NULL
);

-- Messages waiting for a 2xx from the ingest endpoint. `payload` is the exact JSON of one
-- wire ChatMessage, so batch sizes are known to the byte before sending.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(workspace_id),
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    message_id    TEXT NOT NULL UNIQUE,
    payload       TEXT NOT NULL,
    enqueued_at   INTEGER NOT NULL,
    UNIQUE (session_id, seq)
);

-- Batches the endpoint refused for good (4xx other than 408/429) or that exhausted their
-- retry budget. Kept, never retried automatically unless the reason is retry_exhausted.
CREATE TABLE set_aside (
    id            INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    message_id    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    enqueued_at   INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    http_status   INTEGER,
    detail        TEXT NOT NULL,
    set_aside_at  INTEGER NOT NULL
);
