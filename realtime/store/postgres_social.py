"""The PostgreSQL store's posts and likes, push device tokens and last-seen times.

Each function is one short transaction on a connection the caller acquired; the
caller maps unavailability to :class:`~realtime.store.base.StoreUnavailable`. Likes
come in batches (:func:`like_batch`), committed by the store's group commit.
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


async def like_batch(
    conn: asyncpg.Connection, changes: Sequence[tuple[str, str, bool]]
) -> list[LikeChange]:
    """Apply ``(post, user, on)`` changes in order, in one transaction; one result each.

    Each change sees the ones before it, as if they ran one by one: a like moves the
    count only when the user did not like the post yet, an unlike only when they did.
    The posts' rows are locked first, in id order (nodes never deadlock), so every
    change to a post's likes, from any node, happens under its lock.
    """
    posts = sorted({post for post, _, _ in changes})
    pairs = sorted({(post, user) for post, user, _ in changes})
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO posts (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", posts
        )
        rows = await conn.fetch(
            "SELECT id, likes FROM posts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", posts
        )
        count: dict[str, int] = {post: likes for post, likes in rows}
        liked_rows = await conn.fetch(
            "SELECT l.post, l.user_id FROM likes AS l"
            " JOIN unnest($1::text[], $2::text[]) AS k(post, user_id)"
            " ON l.post = k.post AND l.user_id = k.user_id",
            [post for post, _ in pairs],
            [user for _, user in pairs],
        )
        before = {(post, user) for post, user in liked_rows}
        state = {pair: pair in before for pair in pairs}
        results = []
        for post, user, on in changes:
            changed = state[(post, user)] != on
            if changed:
                state[(post, user)] = on
                count[post] += 1 if on else -1
            results.append(LikeChange(count[post], changed))
        added = [pair for pair in pairs if state[pair] and pair not in before]
        removed = [pair for pair in pairs if not state[pair] and pair in before]
        if added:
            await conn.execute(
                "INSERT INTO likes (post, user_id) SELECT * FROM unnest($1::text[], $2::text[])",
                [post for post, _ in added],
                [user for _, user in added],
            )
        if removed:
            await conn.execute(
                "DELETE FROM likes AS l USING unnest($1::text[], $2::text[]) AS k(post, user_id)"
                " WHERE l.post = k.post AND l.user_id = k.user_id",
                [post for post, _ in removed],
                [user for _, user in removed],
            )
        await conn.execute(
            "UPDATE posts SET likes = x.likes"
            " FROM unnest($1::text[], $2::bigint[]) AS x(id, likes) WHERE posts.id = x.id",
            posts,
            [count[post] for post in posts],
        )
    return results


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


async def last_seen_batch(conn: asyncpg.Connection,
                          items: Sequence[tuple[str, int]]) -> list[None]:
    """Remember each ``(user, ts)`` of ``items`` as that user's last-seen time unless a
    later one is stored, in one statement.

    A statement may not update one row twice, so each user's latest ``ts`` goes alone;
    users go in sorted order, so two nodes' batches lock shared rows in the same order
    and cannot deadlock.
    """
    latest: dict[str, int] = {}
    for user, ts in items:
        if ts > latest.get(user, ts - 1):
            latest[user] = ts
    users = sorted(latest)
    await conn.execute(
        "INSERT INTO last_seen (user_id, ts) SELECT * FROM unnest($1::text[], $2::bigint[])"
        " ON CONFLICT (user_id) DO UPDATE SET ts = GREATEST(last_seen.ts, EXCLUDED.ts)",
        users,
        [latest[user] for user in users],
    )
    return [None] * len(items)


async def last_seen(conn: asyncpg.Connection, users: Sequence[str]) -> dict[str, int]:
    """``user -> ts`` for those of ``users`` ever seen."""
    rows = await conn.fetch(
        "SELECT user_id, ts FROM last_seen WHERE user_id = ANY($1::text[])", list(users)
    )
    return {user: int(ts) for user, ts in rows}
