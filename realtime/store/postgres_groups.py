"""The SQL of the PostgreSQL store for groups run by their members, blocks and mutes.

Functions of an ``asyncpg.Connection``. A group change runs in one transaction that takes
the store's position counter, then the thread's row, under lock, in the same order as
``rt_append_batch`` and ``rt_change``: the change is the thread's next entry, and it
judges the membership it changes with no other writer in between.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg

from realtime.store.base import (
    MEMBERS,
    TITLE,
    FixedMembers,
    GroupChange,
    GroupChanged,
    NotAMember,
    StoredMessage,
    Thread,
    ThreadNotFound,
)
from realtime.store.group_rules import judge


async def open_group(conn: asyncpg.Connection, creator: str | None, members: Sequence[str],
                     title: str | None, ts: int) -> GroupChanged:
    """A new ``g:``-prefixed group of ``creator`` (its admin) and ``members``, with its
    first entry: the members change that added them all."""
    unique = sorted(set(members) | ({creator} if creator is not None else set()))
    admins = [creator] if creator is not None else []
    async with conn.transaction():
        pos = await conn.fetchval("SELECT last FROM positions FOR UPDATE")
        while True:
            # token_urlsafe draws from [A-Za-z0-9_-]: no ':' after the prefix.
            thread = "g:" + secrets.token_urlsafe(12)
            created = await conn.fetchval(
                "INSERT INTO threads (id, kind, title, creator, created_at)"
                " VALUES ($1, 'group', $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
                thread, title, creator, ts)
            if created:
                break
        entry = await _entry(conn, thread, 0, pos, creator, ts, MEMBERS, "",
                             {"added": unique, "removed": [], "admins": admins})
        await conn.execute(
            "INSERT INTO members (thread, user_id, admin, since)"
            " SELECT $1, u, u IS NOT DISTINCT FROM $3 AND $3 IS NOT NULL, $4"
            " FROM unnest($2::text[]) AS u",
            thread, unique, creator, entry.pos)
    return GroupChanged(Thread(thread, "group", tuple(unique), title, tuple(admins)), entry)


async def change_group(conn: asyncpg.Connection, change: GroupChange) -> GroupChanged:
    """Judge and make ``change``; see :meth:`realtime.store.base.Store.change_group`."""
    thread, user = change.thread, change.user
    async with conn.transaction():
        pos = await conn.fetchval("SELECT last FROM positions FOR UPDATE")
        row = await conn.fetchrow(
            "SELECT kind, title, last_seq FROM threads WHERE id = $1 FOR UPDATE", thread)
        if row is None:
            raise ThreadNotFound(thread)
        kind, title, last_seq = row
        if kind == "dm":
            raise FixedMembers("a DM's members and title cannot change")
        rows = await conn.fetch(
            "SELECT user_id, admin FROM members WHERE thread = $1", thread)
        current = {r[0] for r in rows}
        admins = {r[0] for r in rows if r[1]}
        plan = judge(change, current, admins)
        if change.kind == TITLE:
            if change.title == title:
                return GroupChanged(_thread(thread, title, current, admins), None)
            await conn.execute("UPDATE threads SET title = $2 WHERE id = $1",
                               thread, change.title)
            entry = await _entry(conn, thread, last_seq, pos, user, change.ts, TITLE,
                                 change.title or "", None)
            return GroupChanged(_thread(thread, change.title, current, admins), entry)
        if plan is None:
            return GroupChanged(_thread(thread, title, current, admins), None)
        added, removed, after = plan.added, plan.removed, plan.after
        promoted = None
        if plan.needs_admin:
            # The last admin leaves: the longest-standing member left takes over.
            promoted = await conn.fetchval(
                "SELECT user_id FROM members WHERE thread = $1"
                " AND NOT user_id = ANY($2::text[]) ORDER BY since, user_id LIMIT 1",
                thread, removed)
        admins_after = sorted((admins - set(removed)) | ({promoted} if promoted else set()))
        entry = await _entry(conn, thread, last_seq, pos, user, change.ts, MEMBERS, "",
                             {"added": added, "removed": removed, "admins": admins_after})
        await conn.execute(
            "INSERT INTO members (thread, user_id, since)"
            " SELECT $1, u, $3 FROM unnest($2::text[]) AS u", thread, added, entry.pos)
        await conn.execute(
            "DELETE FROM departures WHERE thread = $1 AND user_id = ANY($2::text[])",
            thread, added)
        await conn.execute(
            "DELETE FROM members WHERE thread = $1 AND user_id = ANY($2::text[])",
            thread, removed)
        await conn.execute(
            "INSERT INTO departures (thread, user_id, until)"
            " SELECT $1, u, $3 FROM unnest($2::text[]) AS u"
            " ON CONFLICT (thread, user_id) DO UPDATE SET until = excluded.until",
            thread, removed, entry.pos)
        if promoted is not None:
            await conn.execute(
                "UPDATE members SET admin = true WHERE thread = $1 AND user_id = $2",
                thread, promoted)
    return GroupChanged(_thread(thread, title, after, set(admins_after)), entry)


async def set_block(conn: asyncpg.Connection, blocker: str, blocked: str, on: bool) -> None:
    if on:
        await conn.execute("INSERT INTO blocks (blocker, blocked) VALUES ($1, $2)"
                           " ON CONFLICT DO NOTHING", blocker, blocked)
    else:
        await conn.execute("DELETE FROM blocks WHERE blocker = $1 AND blocked = $2",
                           blocker, blocked)


async def set_mute(conn: asyncpg.Connection, thread: str, user: str,
                   until: int | bool) -> None:
    stored = None if until is False else 0 if until is True else int(until)
    row = await conn.fetchrow(
        "WITH moved AS (UPDATE members SET muted = $3 WHERE thread = $1 AND user_id = $2"
        " RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM moved), EXISTS (SELECT 1 FROM threads WHERE id = $1)",
        thread, user, stored)
    assert row is not None
    if not row[1]:
        raise ThreadNotFound(thread)
    if not row[0]:
        raise NotAMember(f"{user} is not a member of {thread}")


async def groups_created_since(conn: asyncpg.Connection, user: str, ts: int) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM threads WHERE creator = $1 AND created_at >= $2", user, ts))


async def blockers(conn: asyncpg.Connection, user: str, others: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT blocker FROM blocks WHERE blocked = $1 AND blocker = ANY($2::text[])",
        user, list(others))
    return {r[0] for r in rows}


async def blocked_by(conn: asyncpg.Connection, user: str) -> set[str]:
    rows = await conn.fetch("SELECT blocked FROM blocks WHERE blocker = $1", user)
    return {r[0] for r in rows}


async def muted(conn: asyncpg.Connection, thread: str, users: Sequence[str],
                now: int) -> set[str]:
    rows = await conn.fetch(
        "SELECT user_id FROM members WHERE thread = $1 AND user_id = ANY($2::text[])"
        " AND muted IS NOT NULL AND (muted = 0 OR muted > $3)", thread, list(users), now)
    return {r[0] for r in rows}


def _thread(thread: str, title: str | None, members: set[str], admins: set[str]) -> Thread:
    return Thread(thread, "group", tuple(sorted(members)), title, tuple(sorted(admins)))


async def _entry(conn: asyncpg.Connection, thread: str, last_seq: int, last_pos: int,
                 user: str | None, ts: int, kind: str, body: str,
                 meta: dict[str, Any] | None) -> StoredMessage:
    """Write the thread's next entry (next seq, next pos) and move both counters."""
    seq, pos = last_seq + 1, last_pos + 1
    await conn.execute(
        "INSERT INTO messages (thread, seq, pos, sender, body, meta, ts, kind)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        thread, seq, pos, user, body, meta, ts, kind)
    await conn.execute("UPDATE threads SET last_seq = $2 WHERE id = $1", thread, seq)
    await conn.execute("UPDATE positions SET last = $1", pos)
    return StoredMessage(thread, seq, pos, str(pos), user, body, meta, None, ts, kind=kind)
