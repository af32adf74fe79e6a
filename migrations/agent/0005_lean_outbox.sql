-- A leaner outbox row, measured against the group commit (scripts/bench outbox): each
-- enqueue's transaction writes whole pages of every structure a row touches.
-- * No AUTOINCREMENT: it updated `sqlite_sequence` on every insert (one more page per
--   commit). Ids only order rows while they wait; one reused after a delete orders nothing.
-- * No foreign key: the writer looks each workspace up before writing its rows (an unknown
--   one is refused alone), so the per-row lookup checked nothing new.
-- * The sequence key leads with the workspace: the reporter's batch query, the per-workspace
--   count and the "nothing left of this workspace" check were full scans without it.
-- The page size stays SQLite's 4096: 8 KiB and 16 KiB pages were slower per commit.
CREATE TABLE outbox_next (
    id            INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    message_id    TEXT NOT NULL UNIQUE,
    payload       TEXT NOT NULL,
    enqueued_at   INTEGER NOT NULL,
    UNIQUE (workspace_id, session_id, seq)
);
INSERT INTO outbox_next (id, workspace_id, session_id, seq, message_id, payload, enqueued_at)
    SELECT id, workspace_id, session_id, seq, message_id, payload, enqueued_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;

-- The row count's triggers went with the old table.
CREATE TRIGGER outbox_row_added AFTER INSERT ON outbox
BEGIN
    UPDATE outbox_rows SET count = count + 1 WHERE only = 1;
END;

CREATE TRIGGER outbox_row_removed AFTER DELETE ON outbox
BEGIN
    UPDATE outbox_rows SET count = count - 1 WHERE only = 1;
END;
