-- Threads, members, messages, read pointers and the commit-order position counter.
--
-- Every key starts with the thread id, so the tables can be partitioned (or
-- distributed) by thread without changing a query that writes a message.

-- One row: the last `pos` handed out. Each group-commit transaction locks it first and
-- advances it by the number of messages it stores; the row lock serializes writers
-- across nodes, which is what makes `pos` increase in commit order. A sequence or
-- bigserial would not: two transactions can commit in the opposite order of their
-- values, and a reader asking for "pos > cursor" would skip the later-committed one.
CREATE TABLE positions (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    last bigint NOT NULL
);
INSERT INTO positions (id, last) VALUES (true, 0);

CREATE TABLE threads (
    id         text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('dm', 'group')),
    title      text,
    -- The last `seq` handed out in this thread: `UPDATE ... SET last_seq = last_seq + n`
    -- allocates a gapless block, and its row lock orders writers of the thread.
    last_seq   bigint NOT NULL DEFAULT 0,
    -- `pos` of the newest message (0: none yet), so a thread list sorts without a scan.
    last_pos   bigint NOT NULL DEFAULT 0,
    -- Creation order, for listing threads without a message yet.
    created    bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE members (
    thread   text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id  text NOT NULL,
    read_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (thread, user_id)
);

CREATE INDEX members_by_user ON members (user_id, thread);

CREATE TABLE messages (
    thread text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq    bigint NOT NULL,
    pos    bigint NOT NULL,
    sender text,
    cid    text,
    body   text NOT NULL,
    meta   jsonb,
    ts     bigint NOT NULL,
    PRIMARY KEY (thread, seq)
);

-- The idempotency key. A system message has a NULL sender and NULLs never collide in a
-- unique index, so the key uses '' for it (user ids are never empty).
CREATE UNIQUE INDEX messages_by_cid
    ON messages (thread, COALESCE(sender, ''), cid)
    WHERE cid IS NOT NULL;

-- Replay behind a cursor: for each thread of a user, the messages with pos > cursor.
CREATE INDEX messages_by_thread_pos ON messages (thread, pos);
