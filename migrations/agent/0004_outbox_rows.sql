-- How many rows the outbox holds, kept by triggers. Every enqueue checks the outbox's limit;
-- COUNT(*) walks the whole table, which a full outbox (hundreds of thousands of rows) makes
-- the slowest part of a commit.
CREATE TABLE outbox_rows (
    only  INTEGER PRIMARY KEY CHECK (only = 1),
    count INTEGER NOT NULL
);
INSERT INTO outbox_rows (only, count) SELECT 1, COUNT(*) FROM outbox;

CREATE TRIGGER outbox_row_added AFTER INSERT ON outbox
BEGIN
    UPDATE outbox_rows SET count = count + 1 WHERE only = 1;
END;

CREATE TRIGGER outbox_row_removed AFTER DELETE ON outbox
BEGIN
    UPDATE outbox_rows SET count = count - 1 WHERE only = 1;
END;
