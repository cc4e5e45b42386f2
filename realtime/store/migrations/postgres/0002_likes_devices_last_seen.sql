-- Posts and their likes, push device tokens, and when each user was last online.

-- A post is recorded on its first like or when its owner is set: posts need no
-- registration. `likes` is the count, kept with the likes in one transaction, so
-- reading it never scans a hot post's likes. Every change to a post's likes holds the
-- post's row lock.
CREATE TABLE posts (
    id    text PRIMARY KEY,
    owner text,
    likes bigint NOT NULL DEFAULT 0 CHECK (likes >= 0)
);

CREATE TABLE likes (
    post    text NOT NULL,
    user_id text NOT NULL,
    PRIMARY KEY (post, user_id)
);

-- A token belongs to one user at a time: registering it again moves it.
CREATE TABLE devices (
    token    text PRIMARY KEY,
    user_id  text NOT NULL,
    platform text NOT NULL
);

CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE last_seen (
    user_id text PRIMARY KEY,
    ts      bigint NOT NULL
);
