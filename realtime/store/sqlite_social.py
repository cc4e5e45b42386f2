"""The SQL of the SQLite store for posts and likes, push devices and last seen.

Blocking functions of a ``sqlite3.Connection``, like :mod:`realtime.store.sqlite_ops`:
the writes run inside a batch's transaction in the writer thread, the reads in the
reader thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from realtime.store.base import DeviceToken, LikeChange

# -- writes ------------------------------------------------------------------------------


def set_post_owner(conn: sqlite3.Connection, post: str, owner: str) -> None:
    """Record or change the owner of ``post``."""
    conn.execute(
        "INSERT INTO posts (id, owner) VALUES (?, ?)"
        " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner",
        (post, owner),
    )


def set_like(conn: sqlite3.Connection, post: str, user: str, on: bool) -> LikeChange:
    """Like or unlike ``post`` as ``user``; the count moves only when the state changes."""
    conn.execute("INSERT OR IGNORE INTO posts (id) VALUES (?)", (post,))
    if on:
        changed = (
            conn.execute(
                "INSERT OR IGNORE INTO likes (post, user) VALUES (?, ?)", (post, user)
            ).rowcount
            == 1
        )
        delta = 1
    else:
        changed = (
            conn.execute("DELETE FROM likes WHERE post = ? AND user = ?", (post, user)).rowcount
            == 1
        )
        delta = -1
    if changed:
        conn.execute("UPDATE posts SET likes = MAX(likes + ?, 0) WHERE id = ?", (delta, post))
    (count,) = conn.execute("SELECT likes FROM posts WHERE id = ?", (post,)).fetchone()
    return LikeChange(count, changed)


def add_device(conn: sqlite3.Connection, user: str, token: str, platform: str) -> None:
    """Register ``token`` for ``user``, replacing any earlier registration of it."""
    conn.execute(
        "INSERT INTO devices (token, user, platform) VALUES (?, ?, ?)"
        " ON CONFLICT (token) DO UPDATE SET user = excluded.user, platform = excluded.platform",
        (token, user, platform),
    )


def remove_device(conn: sqlite3.Connection, token: str) -> bool:
    """Forget ``token``; True when it was registered."""
    return conn.execute("DELETE FROM devices WHERE token = ?", (token,)).rowcount == 1


def set_last_seen(conn: sqlite3.Connection, user: str, ts: int) -> None:
    """Raise ``user``'s last seen time to ``ts`` (never lower it)."""
    conn.execute(
        "INSERT INTO last_seen (user, ts) VALUES (?, ?)"
        " ON CONFLICT (user) DO UPDATE SET ts = MAX(ts, excluded.ts)",
        (user, ts),
    )


# -- reads -------------------------------------------------------------------------------


def post_owner(conn: sqlite3.Connection, post: str) -> str | None:
    """The owner of ``post``, or None."""
    row = conn.execute("SELECT owner FROM posts WHERE id = ?", (post,)).fetchone()
    return None if row is None else row[0]


def like_count(conn: sqlite3.Connection, post: str) -> int:
    """Likes of ``post``; 0 for a post never liked."""
    row = conn.execute("SELECT likes FROM posts WHERE id = ?", (post,)).fetchone()
    return 0 if row is None else int(row[0])


def devices_of(conn: sqlite3.Connection, users: Sequence[str]) -> list[DeviceToken]:
    """Every token of any of ``users``, by user then token."""
    # One JSON array parameter instead of one per user: no limit on how many users.
    rows = conn.execute(
        "SELECT user, token, platform FROM devices"
        " WHERE user IN (SELECT value FROM json_each(?)) ORDER BY user, token",
        (json.dumps(list(users)),),
    ).fetchall()
    return [DeviceToken(user, token, platform) for user, token, platform in rows]


def last_seen(conn: sqlite3.Connection, users: Sequence[str]) -> dict[str, int]:
    """``last_seen`` of those of ``users`` ever seen."""
    rows = conn.execute(
        "SELECT user, ts FROM last_seen WHERE user IN (SELECT value FROM json_each(?))",
        (json.dumps(list(users)),),
    ).fetchall()
    return {user: int(ts) for user, ts in rows}
