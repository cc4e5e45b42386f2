-- The push outbox joins the store's database, so that a message's commit records, in
-- the same transaction, that a push of it is owed (push_owed); the node later discharges
-- that record into device jobs (push_outbox), or into nothing when every recipient was
-- live. Jobs of an outbox kept in a file of its own by earlier releases are moved in when
-- push starts (push.outbox_sqlite.SqliteOutbox.adopt): SQL cannot name that file.

CREATE TABLE IF NOT EXISTS push_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    digest TEXT NOT NULL,
    message TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    due_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease TEXT,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS push_outbox_due ON push_outbox (due_at) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS push_outbox_key ON push_outbox (key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS push_outbox_done ON push_outbox (done_at) WHERE done_at IS NOT NULL;

-- A committed message whose push is not decided yet: its position, where it is, its ts.
CREATE TABLE IF NOT EXISTS push_owed (
    pos INTEGER PRIMARY KEY,
    thread TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_owed_by_ts ON push_owed (ts);
