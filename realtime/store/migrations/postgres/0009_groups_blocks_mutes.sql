-- Groups run by their members, blocks and mutes.
--
-- A change of a group (its members, its title) is an entry of the thread's log like an
-- edit: a row of `messages` with kind 'members' (meta: {added, removed, admins}) or
-- 'title' (body: the new title).

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
    CHECK (kind IS NULL OR kind IN ('edit', 'unsend', 'react', 'members', 'title'));

-- Who made a group, and when (epoch ms): the limit of groups made per user per hour.
ALTER TABLE threads
    ADD COLUMN creator text,
    ADD COLUMN created_at bigint;
CREATE INDEX threads_by_creator ON threads (creator, created_at) WHERE creator IS NOT NULL;

-- A group's admins; `since`: pos of the entry that added the member (0: before groups
-- had entries), which orders members by how long they have stood; `muted`: NULL when
-- not muted, 0 until unmuted, else until when (epoch ms).
ALTER TABLE members
    ADD COLUMN admin boolean NOT NULL DEFAULT false,
    ADD COLUMN since bigint NOT NULL DEFAULT 0,
    ADD COLUMN muted bigint;

-- A member removed from a group: their replay carries the thread's entries up to the
-- one that removed them (`until`, its pos), and none after. Dropped if they are added
-- again.
CREATE TABLE departures (
    thread  text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    until   bigint NOT NULL,
    PRIMARY KEY (thread, user_id)
);
CREATE INDEX departures_by_user ON departures (user_id, thread);

CREATE TABLE blocks (
    blocker text NOT NULL,
    blocked text NOT NULL,
    PRIMARY KEY (blocker, blocked)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked, blocker);
