"""The SQL of the SQLite store, as blocking functions of a ``sqlite3.Connection``.

:class:`realtime.store.sqlite.SqliteStore` calls each function in the one thread that
owns the connection. The write functions run inside the transaction of a batch (see
:mod:`realtime.store.sqlite_batch`), which holds the write lock from its start
(``BEGIN IMMEDIATE``). Each read function runs in one snapshot (``BEGIN``) in the
reader thread, so its answer is consistent even while the writer commits.

A ``sqlite3.Error`` escapes as is; the caller turns it into ``StoreUnavailable``.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from realtime.store.base import (
    HistoryPage,
    NotAMember,
    StoredMessage,
    StoreError,
    Thread,
    ThreadNotFound,
    ThreadSummary,
    dm_thread_id,
)

COLUMNS = "thread, seq, pos, sender, cid, body, meta, ts"


def connect(path: str, *, synchronous: str, query_only: bool = False) -> sqlite3.Connection:
    """Open ``path`` in WAL mode, in autocommit mode (transactions are explicit)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=FULL syncs the log on every commit: acked means durable.
        # NORMAL would be faster, and a power loss could drop the last commits.
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        if query_only:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def encode_meta(meta: dict[str, Any] | None) -> str | None:
    """``meta`` as JSON text, or None."""
    return None if meta is None else msgspec.json.encode(meta).decode()


# -- writes ------------------------------------------------------------------------------


def ensure_dm(conn: sqlite3.Connection, a: str, b: str) -> Thread:
    """The DM thread of ``a`` and ``b``, created if missing."""
    thread = dm_thread_id(a, b)
    conn.execute("INSERT OR IGNORE INTO threads (id, kind) VALUES (?, 'dm')", (thread,))
    conn.executemany(
        "INSERT OR IGNORE INTO members (thread, user) VALUES (?, ?)",
        [(thread, user) for user in sorted({a, b})],
    )
    return Thread(thread, "dm", tuple(sorted({a, b})))


def create_group(conn: sqlite3.Connection, members: Sequence[str], title: str | None) -> Thread:
    """A new group thread with a fresh ``g:``-prefixed id and these members, deduplicated."""
    unique = sorted(set(members))
    while True:
        # token_urlsafe draws from [A-Za-z0-9_-]: no ':' after the prefix.
        thread = "g:" + secrets.token_urlsafe(12)
        cursor = conn.execute(
            "INSERT OR IGNORE INTO threads (id, kind, title) VALUES (?, 'group', ?)",
            (thread, title),
        )
        if cursor.rowcount == 1:
            break
    conn.executemany(
        "INSERT INTO members (thread, user) VALUES (?, ?)", [(thread, u) for u in unique]
    )
    return Thread(thread, "group", tuple(unique), title)


def change_members(
    conn: sqlite3.Connection, thread: str, add: Sequence[str], remove: Sequence[str]
) -> Thread:
    """Add, then remove, members of a group thread; return it with its members now.

    A DM's members are fixed by its id: changing them raises :class:`StoreError`.
    """
    row = conn.execute("SELECT kind, title FROM threads WHERE id = ?", (thread,)).fetchone()
    if row is None:
        raise ThreadNotFound(thread)
    kind, title = row
    if kind == "dm":
        raise StoreError("a DM's members cannot change")
    conn.executemany(
        "INSERT OR IGNORE INTO members (thread, user) VALUES (?, ?)",
        [(thread, user) for user in add],
    )
    conn.executemany(
        "DELETE FROM members WHERE thread = ? AND user = ?", [(thread, user) for user in remove]
    )
    return Thread(thread, kind, _members(conn, thread), title)


def mark_read(conn: sqlite3.Connection, thread: str, user: str, seq: int) -> int:
    """Raise ``user``'s read pointer to ``seq``, clamped to the thread's last seq."""
    row = conn.execute("SELECT last_seq FROM threads WHERE id = ?", (thread,)).fetchone()
    if row is None:
        raise ThreadNotFound(thread)
    pointer = conn.execute(
        "SELECT read_seq FROM members WHERE thread = ? AND user = ?", (thread, user)
    ).fetchone()
    if pointer is None:
        raise NotAMember(f"{user} is not a member of {thread}")
    stored = max(pointer[0], min(seq, row[0]))
    if stored != pointer[0]:
        conn.execute(
            "UPDATE members SET read_seq = ? WHERE thread = ? AND user = ?",
            (stored, thread, user),
        )
    return stored


# -- reads -------------------------------------------------------------------------------


def get_thread(conn: sqlite3.Connection, thread: str) -> Thread | None:
    """The thread with its members (sorted), or None."""
    with read_transaction(conn):
        row = conn.execute("SELECT kind, title FROM threads WHERE id = ?", (thread,)).fetchone()
        if row is None:
            return None
        return Thread(thread, row[0], _members(conn, thread), row[1])


def shares_thread(conn: sqlite3.Connection, a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are members of at least one common thread."""
    row = conn.execute(
        "SELECT 1 FROM members AS x JOIN members AS y ON y.thread = x.thread"
        " WHERE x.user = ? AND y.user = ? LIMIT 1",
        (a, b),
    ).fetchone()
    return row is not None


def threads_of(conn: sqlite3.Connection, user: str) -> list[ThreadSummary]:
    """``user``'s threads, the one with the newest message first; threads without a
    message come last, the most recently created first."""
    summaries = []
    with read_transaction(conn):
        rows = conn.execute(
            "SELECT t.id, t.kind, t.title, t.last_seq, m.read_seq"
            " FROM members AS m JOIN threads AS t ON t.id = m.thread"
            " WHERE m.user = ? ORDER BY t.last_pos DESC, t.rowid DESC",
            (user,),
        ).fetchall()
        for thread, kind, title, last_seq, read_seq in rows:
            last = None
            if last_seq:
                row = conn.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE thread = ? AND seq = ?",
                    (thread, last_seq),
                ).fetchone()
                last = row_to_message(row)
            (unread,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE thread = ? AND seq > ?"
                " AND (sender IS NULL OR sender <> ?)",
                (thread, read_seq, user),
            ).fetchone()
            info = Thread(thread, kind, _members(conn, thread), title)
            summaries.append(ThreadSummary(info, last, unread, read_seq))
    return summaries


def history(conn: sqlite3.Connection, thread: str, before: int | None, limit: int) -> HistoryPage:
    """The newest ``limit`` messages below ``before``, ascending; ``more``: older exist."""
    bound = before if before is not None else 1 << 62
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE thread = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (thread, bound, max(limit, 0) + 1),
    ).fetchall()
    more = len(rows) > limit
    page = [row_to_message(row) for row in rows[: max(limit, 0)]]
    page.reverse()
    return HistoryPage(page, more)


def messages_after(
    conn: sqlite3.Connection, user: str, pos: int, limit: int
) -> list[StoredMessage]:
    """``user``'s messages with ``pos`` above ``pos``, ascending, at most ``limit``."""
    rows = conn.execute(
        "SELECT m.thread, m.seq, m.pos, m.sender, m.cid, m.body, m.meta, m.ts"
        " FROM members AS mb JOIN messages AS m ON m.thread = mb.thread"
        " WHERE mb.user = ? AND m.pos > ? ORDER BY m.pos LIMIT ?",
        (user, pos, max(limit, 0)),
    ).fetchall()
    return [row_to_message(row) for row in rows]


def head(conn: sqlite3.Connection) -> int:
    """The largest committed ``pos``, 0 when there is none."""
    (pos,) = conn.execute("SELECT COALESCE(MAX(pos), 0) FROM messages").fetchone()
    return int(pos)


def ping(conn: sqlite3.Connection) -> None:
    """Run a trivial query."""
    conn.execute("SELECT 1").fetchone()


# -- helpers -----------------------------------------------------------------------------


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _members(conn: sqlite3.Connection, thread: str) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT user FROM members WHERE thread = ? ORDER BY user", (thread,)
    ).fetchall()
    return tuple(user for (user,) in rows)


def row_to_message(row: tuple[Any, ...]) -> StoredMessage:
    thread, seq, pos, sender, cid, body, meta, ts = row
    decoded = None if meta is None else msgspec.json.decode(meta)
    return StoredMessage(thread, seq, pos, str(pos), sender, body, decoded, cid, ts)
