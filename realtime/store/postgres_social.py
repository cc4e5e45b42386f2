"""The PostgreSQL store's posts and likes, push device tokens and last-seen times.

Each function is one short transaction on a connection the caller acquired; the
caller maps unavailability to :class:`~realtime.store.base.StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from realtime.store.base import DeviceToken, LikeChange

# -- posts and likes ---------------------------------------------------------------------


async def set_post_owner(conn: asyncpg.Connection, post: str, owner: str) -> None:
    """Record (or change) the owner of ``post``."""
    await conn.execute(
        "INSERT INTO posts (id, owner) VALUES ($1, $2)"
        " ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner",
        post,
        owner,
    )


async def post_owner(conn: asyncpg.Connection, post: str) -> str | None:
    """The owner of ``post``, or None."""
    owner: str | None = await conn.fetchval("SELECT owner FROM posts WHERE id = $1", post)
    return owner


async def set_like(conn: asyncpg.Connection, post: str, user: str, on: bool) -> LikeChange:
    """Like or unlike ``post`` as ``user``; the count moves only when the state changes."""
    async with conn.transaction():
        if on:
            changed = bool(
                await conn.fetchval(
                    "INSERT INTO likes (post, user_id) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    post,
                    user,
                )
            )
        else:
            changed = bool(
                await conn.fetchval(
                    "DELETE FROM likes WHERE post = $1 AND user_id = $2 RETURNING true",
                    post,
                    user,
                )
            )
        # The counter row is updated last: its lock, which every like of a hot post
        # waits for, is held only from here to the commit.
        delta = (1 if on else -1) if changed else 0
        count = await conn.fetchval(
            "INSERT INTO posts (id, likes) VALUES ($1, GREATEST($2::bigint, 0))"
            " ON CONFLICT (id) DO UPDATE SET likes = GREATEST(posts.likes + $2::bigint, 0)"
            " RETURNING likes",
            post,
            delta,
        )
    return LikeChange(int(count), changed)


async def like_count(conn: asyncpg.Connection, post: str) -> int:
    """Likes of ``post``, 0 when it has none."""
    count = await conn.fetchval("SELECT likes FROM posts WHERE id = $1", post)
    return int(count or 0)


# -- devices -----------------------------------------------------------------------------


async def add_device(conn: asyncpg.Connection, user: str, token: str, platform: str) -> None:
    """Register ``token`` for ``user``, taking it over from whoever had it."""
    await conn.execute(
        "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, $3)"
        " ON CONFLICT (token) DO UPDATE"
        " SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform",
        token,
        user,
        platform,
    )


async def remove_device(conn: asyncpg.Connection, token: str) -> bool:
    """Forget ``token``; True when it was registered."""
    removed = await conn.fetchval("DELETE FROM devices WHERE token = $1 RETURNING true", token)
    return bool(removed)


async def devices_of(conn: asyncpg.Connection, users: Sequence[str]) -> list[DeviceToken]:
    """Every token of any of ``users``, by user then token."""
    rows = await conn.fetch(
        "SELECT user_id, token, platform FROM devices WHERE user_id = ANY($1::text[])"
        " ORDER BY user_id, token",
        list(users),
    )
    return [DeviceToken(user, token, platform) for user, token, platform in rows]


# -- last seen ---------------------------------------------------------------------------


async def set_last_seen(conn: asyncpg.Connection, user: str, ts: int) -> None:
    """Remember ``ts`` as ``user``'s last-seen time unless a later one is stored."""
    await conn.execute(
        "INSERT INTO last_seen (user_id, ts) VALUES ($1, $2) ON CONFLICT (user_id)"
        " DO UPDATE SET ts = GREATEST(last_seen.ts, EXCLUDED.ts)",
        user,
        ts,
    )


async def last_seen(conn: asyncpg.Connection, users: Sequence[str]) -> dict[str, int]:
    """``user -> ts`` for those of ``users`` ever seen."""
    rows = await conn.fetch(
        "SELECT user_id, ts FROM last_seen WHERE user_id = ANY($1::text[])", list(users)
    )
    return {user: int(ts) for user, ts in rows}
