-- The life of a message: edits, unsends and reactions are entries of the thread's log.
--
-- An entry is a row of `messages` like a message, with the thread's next seq and the
-- next pos, so a cursor replays it; `kind` tells it apart (NULL: a message). A message
-- row also holds its current state (body and meta as last edited, `edited`, `deleted`),
-- and `reactions` holds who reacts with what, so a page of history is read folded in
-- the same two queries however many changes its messages had.

ALTER TABLE messages ADD COLUMN kind TEXT
    CHECK (kind IS NULL OR kind IN ('edit', 'unsend', 'react'));
-- The message an entry changes (NULL for a message).
ALTER TABLE messages ADD COLUMN target INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN attachments TEXT;
-- Epoch ms of the last edit of a message.
ALTER TABLE messages ADD COLUMN edited INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
-- A react entry's emoji and whether it was added (1) or removed (0).
ALTER TABLE messages ADD COLUMN emoji TEXT;
ALTER TABLE messages ADD COLUMN react_on INTEGER;

-- History pages and a thread's last message skip the entries.
CREATE INDEX messages_only ON messages (thread, seq) WHERE kind IS NULL;
-- The entries that changed a message (its edits are erased with it).
CREATE INDEX messages_by_target ON messages (thread, target) WHERE target IS NOT NULL;

CREATE TABLE reactions (
    thread TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    emoji  TEXT NOT NULL,
    user   TEXT NOT NULL,
    -- seq of the entry that added it: users are listed in the order they reacted.
    at     INTEGER NOT NULL,
    PRIMARY KEY (thread, seq, emoji, user)
) WITHOUT ROWID;
