"""The SQL of the SQLite store, as blocking functions of a ``sqlite3.Connection``.

:class:`realtime.store.sqlite.SqliteStore` calls each function in the one thread that
owns the connection. The write functions run inside the transaction of a batch (see
:mod:`realtime.store.sqlite_batch`), which holds the write lock from its start
(``BEGIN IMMEDIATE``). Each read function runs in one snapshot (``BEGIN``) in the
reader thread, so its answer is consistent even while the writer commits.

A ``sqlite3.Error`` escapes as is; the caller turns it into ``StoreUnavailable``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from realtime.store import sqlite_groups
from realtime.store.base import (
    EDIT,
    MAX_EMOJI_PER_MESSAGE,
    MAX_REACTIONS_PER_USER,
    MESSAGE,
    REACT,
    UNSEND,
    Changed,
    HistoryPage,
    MessageNotFound,
    NewChange,
    NotAMember,
    NotTheSender,
    StoredMessage,
    Thread,
    ThreadNotFound,
    ThreadSummary,
    TooManyReactions,
    dm_thread_id,
)

COLUMNS = ("thread, seq, pos, sender, cid, body, meta, ts, kind, target, reply_to,"
           " attachments, edited, deleted, emoji, react_on")


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
        # An unsent message is erased: its freed content is overwritten, not left in
        # free pages of the file.
        conn.execute("PRAGMA secure_delete = ON")
        if query_only:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def encode_meta(meta: Any) -> str | None:
    """``meta`` (or attachments) as JSON text, or None."""
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
    members = tuple(sorted({a, b}))
    return Thread(thread, "dm", members,
                  blocked=sqlite_groups.admins_and_blocks(conn, thread, "dm", members)[1])


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


def change(conn: sqlite3.Connection, change: NewChange) -> Changed:
    """Make ``change`` the thread's next entry, moving the target's folded state; see
    :meth:`realtime.store.base.Store.change`."""
    thread, user, target = change.thread, change.user, change.target
    row = conn.execute("SELECT last_seq FROM threads WHERE id = ?", (thread,)).fetchone()
    if row is None:
        raise ThreadNotFound(thread)
    last_seq = row[0]
    if user is not None and conn.execute(
        "SELECT 1 FROM members WHERE thread = ? AND user = ?", (thread, user)
    ).fetchone() is None:
        raise NotAMember(f"{user} is not a member of {thread}")
    found = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE thread = ? AND seq = ?"
        " AND kind IS NULL AND deleted = 0",
        (thread, target),
    ).fetchone()
    if found is None:
        raise MessageNotFound(f"no message {target} in {thread}")
    message = row_to_message(found)
    if change.kind != REACT and user is not None and message.sender != user:
        raise NotTheSender("only its sender may change a message")
    ts, seq = change.ts, last_seq + 1
    body, meta = "", None
    if change.kind == EDIT:
        body, meta = change.body, change.meta if change.replace_meta else message.meta
        if body == message.body and meta == message.meta:
            # Already so: a retry of the last edit gets that edit's entry back.
            (prior,) = conn.execute(
                "SELECT MAX(seq) FROM messages WHERE thread = ? AND target = ?"
                " AND kind = 'edit'", (thread, target)).fetchone()
            return Changed(None, prior, message)
        conn.execute(
            "UPDATE messages SET body = ?, meta = ?, edited = ? WHERE thread = ? AND seq = ?",
            (body, encode_meta(meta), ts, thread, target),
        )
        current = msgspec.structs.replace(message, body=body, meta=meta, edited=ts)
    elif change.kind == UNSEND:
        # The erase: the message's content, the content of its edits, its reactions.
        conn.execute(
            "UPDATE messages SET body = '', meta = NULL, attachments = NULL, deleted = 1"
            " WHERE thread = ? AND seq = ?", (thread, target))
        conn.execute(
            "UPDATE messages SET body = '', meta = NULL"
            " WHERE thread = ? AND target = ? AND kind = 'edit'", (thread, target))
        conn.execute("DELETE FROM reactions WHERE thread = ? AND seq = ?", (thread, target))
        current = msgspec.structs.replace(message, body="", meta=None, attachments=None,
                                          deleted=True)
    else:
        has = conn.execute(
            "SELECT 1 FROM reactions WHERE thread = ? AND seq = ? AND emoji = ? AND user = ?",
            (thread, target, change.emoji, user),
        ).fetchone() is not None
        if has == change.on:
            return Changed(None, None, message)
        if change.on:
            _check_reaction_room(conn, thread, target, user, change.emoji)
        if change.on:
            conn.execute(
                "INSERT INTO reactions (thread, seq, emoji, user, at) VALUES (?, ?, ?, ?, ?)",
                (thread, target, change.emoji, user, seq))
        else:
            conn.execute(
                "DELETE FROM reactions WHERE thread = ? AND seq = ? AND emoji = ? AND user = ?",
                (thread, target, change.emoji, user))
        current = message
    react = change.kind == REACT
    cursor = conn.execute(
        "INSERT INTO messages (thread, seq, sender, body, meta, ts, kind, target, emoji,"
        " react_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (thread, seq, user, body, encode_meta(meta), ts, change.kind, target,
         change.emoji if react else None, int(change.on) if react else None),
    )
    pos = cursor.lastrowid
    assert pos is not None
    conn.execute("UPDATE threads SET last_seq = ? WHERE id = ?", (seq, thread))
    entry = StoredMessage(
        thread, seq, pos, str(pos), user, body, meta, None, ts, kind=change.kind,
        target=target, emoji=change.emoji if react else None,
        on=change.on if react else None,
    )
    return Changed(entry, seq, current)


def _check_reaction_room(conn: sqlite3.Connection, thread: str, seq: int, user: str | None,
                         emoji: str) -> None:
    (mine,) = conn.execute(
        "SELECT COUNT(*) FROM reactions WHERE thread = ? AND seq = ? AND user = ?",
        (thread, seq, user)).fetchone()
    if mine >= MAX_REACTIONS_PER_USER:
        raise TooManyReactions(f"at most {MAX_REACTIONS_PER_USER} reactions per user per message")
    known = conn.execute(
        "SELECT 1 FROM reactions WHERE thread = ? AND seq = ? AND emoji = ? LIMIT 1",
        (thread, seq, emoji)).fetchone()
    if known is None:
        (emoji_count,) = conn.execute(
            "SELECT COUNT(DISTINCT emoji) FROM reactions WHERE thread = ? AND seq = ?",
            (thread, seq)).fetchone()
        if emoji_count >= MAX_EMOJI_PER_MESSAGE:
            raise TooManyReactions(f"at most {MAX_EMOJI_PER_MESSAGE} emoji per message")


# -- reads -------------------------------------------------------------------------------


def get_thread(conn: sqlite3.Connection, thread: str) -> Thread | None:
    """The thread with its members (sorted), or None."""
    with read_transaction(conn):
        row = conn.execute("SELECT kind, title FROM threads WHERE id = ?", (thread,)).fetchone()
        if row is None:
            return None
        members = _members(conn, thread)
        admins, blocked = sqlite_groups.admins_and_blocks(conn, thread, row[0], members)
        return Thread(thread, row[0], members, row[1], admins, blocked)


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
            "SELECT t.id, t.kind, t.title, t.last_seq, m.read_seq, m.muted"
            " FROM members AS m JOIN threads AS t ON t.id = m.thread"
            " WHERE m.user = ? ORDER BY t.last_pos DESC, t.rowid DESC",
            (user,),
        ).fetchall()
        for thread, kind, title, last_seq, read_seq, muted in rows:
            last = None
            if last_seq:
                # The last message, not the last entry: changes are folded into it.
                row = conn.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE thread = ? AND kind IS NULL"
                    " ORDER BY seq DESC LIMIT 1",
                    (thread,),
                ).fetchone()
                if row is not None:
                    last = row_to_message(row)
                    folded = _reactions(conn, thread, last.seq, last.seq)
                    if folded:
                        last = msgspec.structs.replace(last, reactions=folded[last.seq])
            (unread,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE thread = ? AND seq > ? AND kind IS NULL"
                " AND (sender IS NULL OR sender <> ?)",
                (thread, read_seq, user),
            ).fetchone()
            members = _members(conn, thread)
            admins, _ = sqlite_groups.admins_and_blocks(conn, thread, kind, members)
            info = Thread(thread, kind, members, title, admins)
            summaries.append(ThreadSummary(info, last, unread, read_seq,
                                           muted_state(muted)))
    return summaries


def history(conn: sqlite3.Connection, thread: str, before: int | None, limit: int) -> HistoryPage:
    """The newest ``limit`` messages below ``before``, ascending, in their current state
    with their reactions; ``more``: older exist. Two queries, whatever the changes."""
    bound = before if before is not None else 1 << 62
    with read_transaction(conn):
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM messages WHERE thread = ? AND seq < ? AND kind IS NULL"
            " ORDER BY seq DESC LIMIT ?",
            (thread, bound, max(limit, 0) + 1),
        ).fetchall()
        more = len(rows) > limit
        page = [row_to_message(row) for row in rows[: max(limit, 0)]]
        page.reverse()
        if page:
            folded = _reactions(conn, thread, page[0].seq, page[-1].seq)
            if folded:
                page = [msgspec.structs.replace(m, reactions=folded[m.seq])
                        if m.seq in folded else m for m in page]
    return HistoryPage(page, more)


def entries(conn: sqlite3.Connection, thread: str, after: int, before: int
            ) -> list[StoredMessage]:
    """Every entry of ``thread`` strictly between seqs ``after`` and ``before``, ascending."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE thread = ? AND seq > ? AND seq < ? ORDER BY seq",
        (thread, after, before),
    ).fetchall()
    return [row_to_message(row) for row in rows]


def is_message(conn: sqlite3.Connection, thread: str, seq: int) -> bool:
    """Whether ``seq`` is a message of ``thread``."""
    return conn.execute(
        "SELECT 1 FROM messages WHERE thread = ? AND seq = ? AND kind IS NULL", (thread, seq)
    ).fetchone() is not None


def _reactions(conn: sqlite3.Connection, thread: str, first: int, last: int
               ) -> dict[int, dict[str, list[str]]]:
    """{seq: {emoji: [users in the order they reacted]}} of the messages first..last."""
    folded: dict[int, dict[str, list[str]]] = {}
    for seq, emoji, user in conn.execute(
        "SELECT seq, emoji, user FROM reactions WHERE thread = ? AND seq BETWEEN ? AND ?"
        " ORDER BY seq, at",
        (thread, first, last),
    ):
        folded.setdefault(seq, {}).setdefault(emoji, []).append(user)
    return folded


def messages_after(
    conn: sqlite3.Connection, user: str, pos: int, limit: int
) -> list[StoredMessage]:
    """``user``'s messages with ``pos`` above ``pos``, ascending, at most ``limit``; of
    a thread they left, those up to the entry that removed them."""
    rows = conn.execute(
        "SELECT m.thread, m.seq, m.pos, m.sender, m.cid, m.body, m.meta, m.ts, m.kind,"
        " m.target, m.reply_to, m.attachments, m.edited, m.deleted, m.emoji, m.react_on"
        " FROM (SELECT thread, 9223372036854775807 AS until FROM members WHERE user = ?"
        "       UNION ALL SELECT thread, until FROM departures WHERE user = ?) AS mb"
        " JOIN messages AS m ON m.thread = mb.thread"
        " WHERE m.pos > ? AND m.pos <= mb.until ORDER BY m.pos LIMIT ?",
        (user, user, pos, max(limit, 0)),
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


def muted_state(stored: int | None) -> int | bool:
    """A stored mute as the store answers it: False, True (until unmuted), or until when."""
    return False if stored is None else True if stored == 0 else stored


def row_to_message(row: tuple[Any, ...]) -> StoredMessage:
    (thread, seq, pos, sender, cid, body, meta, ts, kind, target, reply_to, attachments,
     edited, deleted, emoji, react_on) = row
    decoded = None if meta is None else msgspec.json.decode(meta)
    if kind is None and reply_to is None and attachments is None and edited is None \
            and not deleted:
        # The common case: a plain message, built with the fewest arguments.
        return StoredMessage(thread, seq, pos, str(pos), sender, body, decoded, cid, ts)
    return StoredMessage(
        thread, seq, pos, str(pos), sender, body, decoded, cid, ts,
        kind=kind or MESSAGE, target=target, reply_to=reply_to,
        attachments=None if attachments is None else msgspec.json.decode(attachments),
        edited=edited, deleted=bool(deleted), emoji=emoji,
        on=None if react_on is None else bool(react_on),
    )
