-- Threads, members, messages and read pointers.
--
-- messages.pos is the rowid (INTEGER PRIMARY KEY): SQLite has one writer at a time,
-- so rowids are handed out in commit order, which is what a cursor needs.

CREATE TABLE threads (
    id       TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('dm', 'group')),
    title    TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    -- pos of the newest message (0: none yet), so a thread list sorts without a scan.
    last_pos INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE members (
    thread   TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user     TEXT NOT NULL,
    read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (thread, user)
) WITHOUT ROWID;

CREATE INDEX members_by_user ON members (user, thread);

CREATE TABLE messages (
    pos    INTEGER PRIMARY KEY,
    thread TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    sender TEXT,
    cid    TEXT,
    body   TEXT NOT NULL,
    meta   TEXT,
    ts     INTEGER NOT NULL,
    UNIQUE (thread, seq)
);

-- Idempotency key. A system message has a NULL sender, and NULLs are distinct in a
-- UNIQUE index, so the key uses '' for it (user ids are never empty).
CREATE UNIQUE INDEX messages_by_cid
    ON messages (thread, COALESCE(sender, ''), cid)
    WHERE cid IS NOT NULL;

CREATE INDEX messages_by_thread_pos ON messages (thread, pos);
