"""The SQL of the SQLite store for groups run by their members, blocks and mutes.

Blocking functions of a ``sqlite3.Connection``, like :mod:`realtime.store.sqlite_ops`:
the writes run inside a batch's transaction in the writer thread (which holds the write
lock, so a change reads and writes the membership it judges in one transaction), the
reads in the reader thread.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence

import msgspec

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

# -- writes ------------------------------------------------------------------------------


def open_group(conn: sqlite3.Connection, creator: str | None, members: Sequence[str],
               title: str | None, ts: int) -> GroupChanged:
    """A new ``g:``-prefixed group of ``creator`` (its admin) and ``members``, with its
    first entry: the members change that added them all."""
    unique = sorted(set(members) | ({creator} if creator is not None else set()))
    while True:
        # token_urlsafe draws from [A-Za-z0-9_-]: no ':' after the prefix.
        thread = "g:" + secrets.token_urlsafe(12)
        cursor = conn.execute(
            "INSERT OR IGNORE INTO threads (id, kind, title, creator, created_at)"
            " VALUES (?, 'group', ?, ?, ?)", (thread, title, creator, ts))
        if cursor.rowcount == 1:
            break
    admins = [creator] if creator is not None else []
    entry = _entry(conn, thread, 0, creator, ts, MEMBERS, "",
                   {"added": unique, "removed": [], "admins": admins})
    conn.executemany(
        "INSERT INTO members (thread, user, admin, since) VALUES (?, ?, ?, ?)",
        [(thread, u, int(u == creator), entry.pos) for u in unique],
    )
    return GroupChanged(Thread(thread, "group", tuple(unique), title, tuple(admins)), entry)


def change_group(conn: sqlite3.Connection, change: GroupChange) -> GroupChanged:
    """Judge and make ``change``; see :meth:`realtime.store.base.Store.change_group`."""
    thread, user = change.thread, change.user
    row = conn.execute(
        "SELECT kind, title, last_seq FROM threads WHERE id = ?", (thread,)).fetchone()
    if row is None:
        raise ThreadNotFound(thread)
    kind, title, last_seq = row
    if kind == "dm":
        raise FixedMembers("a DM's members and title cannot change")
    rows = conn.execute(
        "SELECT user, admin FROM members WHERE thread = ?", (thread,)).fetchall()
    current = {u for u, _ in rows}
    admins = {u for u, admin in rows if admin}
    plan = judge(change, current, admins)
    if change.kind == TITLE:
        if change.title == title:
            return GroupChanged(_thread(thread, title, current, admins), None)
        conn.execute("UPDATE threads SET title = ? WHERE id = ?", (change.title, thread))
        entry = _entry(conn, thread, last_seq, user, change.ts, TITLE, change.title or "",
                       None)
        return GroupChanged(_thread(thread, change.title, current, admins), entry)
    if plan is None:
        return GroupChanged(_thread(thread, title, current, admins), None)
    added, removed, after = plan.added, plan.removed, plan.after
    promoted = None
    if plan.needs_admin:
        # The last admin leaves: the longest-standing member left takes over.
        (promoted,) = conn.execute(
            "SELECT user FROM members WHERE thread = ? AND user NOT IN"
            f" ({','.join('?' * len(removed))}) ORDER BY since, user LIMIT 1",
            (thread, *removed)).fetchone()
    admins_after = sorted((admins - set(removed)) | ({promoted} if promoted else set()))
    entry = _entry(conn, thread, last_seq, user, change.ts, MEMBERS, "",
                   {"added": added, "removed": removed, "admins": admins_after})
    conn.executemany(
        "INSERT INTO members (thread, user, since) VALUES (?, ?, ?)",
        [(thread, u, entry.pos) for u in added])
    conn.executemany("DELETE FROM departures WHERE thread = ? AND user = ?",
                     [(thread, u) for u in added])
    conn.executemany("DELETE FROM members WHERE thread = ? AND user = ?",
                     [(thread, u) for u in removed])
    conn.executemany(
        "INSERT INTO departures (thread, user, until) VALUES (?, ?, ?)"
        " ON CONFLICT (thread, user) DO UPDATE SET until = excluded.until",
        [(thread, u, entry.pos) for u in removed])
    if promoted is not None:
        conn.execute("UPDATE members SET admin = 1 WHERE thread = ? AND user = ?",
                     (thread, promoted))
    return GroupChanged(_thread(thread, title, after, set(admins_after)), entry)


def set_block(conn: sqlite3.Connection, blocker: str, blocked: str, on: bool) -> None:
    if on:
        conn.execute("INSERT OR IGNORE INTO blocks (blocker, blocked) VALUES (?, ?)",
                     (blocker, blocked))
    else:
        conn.execute("DELETE FROM blocks WHERE blocker = ? AND blocked = ?",
                     (blocker, blocked))


def set_mute(conn: sqlite3.Connection, thread: str, user: str, until: int | bool) -> None:
    if conn.execute("SELECT 1 FROM threads WHERE id = ?", (thread,)).fetchone() is None:
        raise ThreadNotFound(thread)
    stored = None if until is False else 0 if until is True else int(until)
    cursor = conn.execute("UPDATE members SET muted = ? WHERE thread = ? AND user = ?",
                          (stored, thread, user))
    if cursor.rowcount == 0:
        raise NotAMember(f"{user} is not a member of {thread}")


# -- reads -------------------------------------------------------------------------------


def groups_created_since(conn: sqlite3.Connection, user: str, ts: int) -> int:
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM threads WHERE creator = ? AND created_at >= ?",
        (user, ts)).fetchone()
    return int(count)


def blockers(conn: sqlite3.Connection, user: str, others: Sequence[str]) -> set[str]:
    if not others:
        return set()
    rows = conn.execute(
        f"SELECT blocker FROM blocks WHERE blocked = ? AND blocker IN"
        f" ({','.join('?' * len(others))})", (user, *others)).fetchall()
    return {blocker for (blocker,) in rows}


def blocked_by(conn: sqlite3.Connection, user: str) -> set[str]:
    rows = conn.execute("SELECT blocked FROM blocks WHERE blocker = ?", (user,)).fetchall()
    return {blocked for (blocked,) in rows}


def muted(conn: sqlite3.Connection, thread: str, users: Sequence[str], now: int) -> set[str]:
    if not users:
        return set()
    rows = conn.execute(
        "SELECT user FROM members WHERE thread = ? AND muted IS NOT NULL"
        f" AND (muted = 0 OR muted > ?) AND user IN ({','.join('?' * len(users))})",
        (thread, now, *users)).fetchall()
    return {u for (u,) in rows}


def admins_and_blocks(conn: sqlite3.Connection, thread: str, kind: str,
                      members: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A group's admins, or the members of a DM who block the other one."""
    if kind == "group":
        rows = conn.execute("SELECT user FROM members WHERE thread = ? AND admin = 1"
                            " ORDER BY user", (thread,)).fetchall()
        return tuple(u for (u,) in rows), ()
    if len(members) != 2:
        return (), ()
    a, b = members
    rows = conn.execute(
        "SELECT blocker FROM blocks WHERE (blocker = ? AND blocked = ?)"
        " OR (blocker = ? AND blocked = ?) ORDER BY blocker", (a, b, b, a)).fetchall()
    return (), tuple(u for (u,) in rows)


# -- helpers -----------------------------------------------------------------------------


def _thread(thread: str, title: str | None, members: set[str], admins: set[str]) -> Thread:
    return Thread(thread, "group", tuple(sorted(members)), title, tuple(sorted(admins)))


def _entry(conn: sqlite3.Connection, thread: str, last_seq: int, user: str | None, ts: int,
           kind: str, body: str, meta: dict[str, list[str]] | None) -> StoredMessage:
    """Write the thread's next entry (seq ``last_seq + 1``) and move its last seq."""
    seq = last_seq + 1
    cursor = conn.execute(
        "INSERT INTO messages (thread, seq, sender, body, meta, ts, kind)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (thread, seq, user, body, None if meta is None else msgspec.json.encode(meta).decode(),
         ts, kind))
    pos = cursor.lastrowid
    assert pos is not None
    conn.execute("UPDATE threads SET last_seq = ? WHERE id = ?", (seq, thread))
    return StoredMessage(thread, seq, pos, str(pos), user, body, meta, None, ts, kind=kind)
