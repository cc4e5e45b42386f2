-- Posts and their likes, push device tokens, and when each user was last online.

CREATE TABLE posts (
    id    TEXT PRIMARY KEY,
    owner TEXT,
    -- Kept with every like and unlike, so a count is one row read.
    likes INTEGER NOT NULL DEFAULT 0 CHECK (likes >= 0)
);

CREATE TABLE likes (
    post TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    PRIMARY KEY (post, user)
) WITHOUT ROWID;

CREATE TABLE devices (
    token    TEXT PRIMARY KEY,
    user     TEXT NOT NULL,
    platform TEXT NOT NULL
);

CREATE INDEX devices_by_user ON devices (user);

CREATE TABLE last_seen (
    user TEXT PRIMARY KEY,
    ts   INTEGER NOT NULL
) WITHOUT ROWID;
