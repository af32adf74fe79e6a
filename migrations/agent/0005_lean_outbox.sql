-- A leaner outbox row, measured against the group commit (scripts/bench outbox): each
-- enqueue's transaction writes whole pages of every structure a row touches.
-- * No AUTOINCREMENT: it updated `sqlite_sequence` on every insert (one more page per
--   commit). Ids only order rows while they wait; one reused after a delete orders nothing.
-- * No foreign key: the writer looks each workspace up before writing its rows (an unknown
--   one is refused alone), so the per-row lookup checked nothing new.
-- * No index on (session, seq): with several sessions enqueueing at once each commit
--   dirtied a leaf page per session in it, half the cost of a commit (8 sessions, 64 rows
--   a commit: 33k rows/s with it, 62k without, same disk). The reporter reads a session's
--   rows in id order instead, which is their seq order: the writer inserts them so, and
--   rows requeued after an outage go back in below every pending id (set_aside.rs).
-- The page size stays SQLite's 4096: 8 KiB and 16 KiB pages were slower per commit.
CREATE TABLE outbox_next (
    id            INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    message_id    TEXT NOT NULL UNIQUE,
    payload       TEXT NOT NULL,
    enqueued_at   INTEGER NOT NULL
);
-- Ids renumbered in each session's seq order: the old table gave requeued rows new, higher ids.
INSERT INTO outbox_next (id, workspace_id, session_id, seq, message_id, payload, enqueued_at)
    SELECT ROW_NUMBER() OVER (ORDER BY session_id, seq),
           workspace_id, session_id, seq, message_id, payload, enqueued_at
    FROM outbox;
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
