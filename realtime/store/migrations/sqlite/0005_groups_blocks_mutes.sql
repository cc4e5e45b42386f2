-- Groups run by their members, blocks and mutes.
--
-- A change of a group (its members, its title) is an entry of the thread's log like an
-- edit: a row of `messages` with kind 'members' (meta: {added, removed, admins}) or
-- 'title' (body: the new title). SQLite cannot alter a CHECK constraint, so `messages`
-- is rebuilt with the wider one; `pos` (the rowid) is copied as is.

CREATE TABLE messages_new (
    pos         INTEGER PRIMARY KEY,
    thread      TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    sender      TEXT,
    cid         TEXT,
    body        TEXT NOT NULL,
    meta        TEXT,
    ts          INTEGER NOT NULL,
    kind        TEXT CHECK (kind IS NULL
                            OR kind IN ('edit', 'unsend', 'react', 'members', 'title')),
    target      INTEGER,
    reply_to    INTEGER,
    attachments TEXT,
    edited      INTEGER,
    deleted     INTEGER NOT NULL DEFAULT 0,
    emoji       TEXT,
    react_on    INTEGER,
    UNIQUE (thread, seq)
);

INSERT INTO messages_new (pos, thread, seq, sender, cid, body, meta, ts, kind, target,
                          reply_to, attachments, edited, deleted, emoji, react_on)
SELECT pos, thread, seq, sender, cid, body, meta, ts, kind, target, reply_to, attachments,
       edited, deleted, emoji, react_on
FROM messages;

DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;

CREATE UNIQUE INDEX messages_by_cid
    ON messages (thread, COALESCE(sender, ''), cid)
    WHERE cid IS NOT NULL;
CREATE INDEX messages_by_thread_pos ON messages (thread, pos);
CREATE INDEX messages_only ON messages (thread, seq) WHERE kind IS NULL;
CREATE INDEX messages_by_target ON messages (thread, target) WHERE target IS NOT NULL;

-- Who made a group, and when (epoch ms): the limit of groups made per user per hour.
ALTER TABLE threads ADD COLUMN creator TEXT;
ALTER TABLE threads ADD COLUMN created_at INTEGER;
CREATE INDEX threads_by_creator ON threads (creator, created_at) WHERE creator IS NOT NULL;

-- A group's admins; `since`: pos of the entry that added the member (0: before groups
-- had entries), which orders members by how long they have stood; `muted`: NULL when
-- not muted, 0 until unmuted, else until when (epoch ms).
ALTER TABLE members ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN muted INTEGER;

-- A member removed from a group: their replay carries the thread's entries up to the
-- one that removed them (`until`, its pos), and none after. Dropped if they are added
-- again.
CREATE TABLE departures (
    thread TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user   TEXT NOT NULL,
    until  INTEGER NOT NULL,
    PRIMARY KEY (thread, user)
) WITHOUT ROWID;
CREATE INDEX departures_by_user ON departures (user, thread);

CREATE TABLE blocks (
    blocker TEXT NOT NULL,
    blocked TEXT NOT NULL,
    PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;
CREATE INDEX blocks_by_blocked ON blocks (blocked, blocker);
