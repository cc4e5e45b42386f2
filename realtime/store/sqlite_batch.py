"""Group commit for the SQLite store: many writes, one transaction, one call.

:func:`commit_batch` runs in the writer thread. It takes the writes queued while the
previous transaction committed, appends and other writes alike, runs each in turn in
one ``BEGIN IMMEDIATE`` transaction and commits once, so one log sync covers them all.

A write that fails on its own (a :class:`StoreError`: missing thread, not a member, ...)
is rolled back to its savepoint and reported in its slot; the others commit. Any other
error rolls back the whole transaction and is raised.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from realtime.store.base import (
    Appended,
    NewMessage,
    NotAMember,
    StoredMessage,
    StoreError,
    ThreadNotFound,
)
from realtime.store.sqlite_ops import COLUMNS, row_to_message, write_transaction


@dataclass(frozen=True, slots=True)
class AppendOp:
    """An append; ``meta`` and ``attachments`` are the message's, already encoded as JSON."""

    message: NewMessage
    meta: str | None
    attachments: str | None = None


@dataclass(frozen=True, slots=True)
class CallOp:
    """Any other write: ``fn(conn, *args)``, run inside the batch's transaction."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]


WriteOp = AppendOp | CallOp


def commit_batch(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> list[Any]:
    """Run ``ops`` in one transaction; return, per op, its result or its :class:`StoreError`."""
    results: list[Any] = []
    appends = _Appends(conn)
    with write_transaction(conn):
        for op in ops:
            if isinstance(op, AppendOp):
                results.append(appends.append(op))
                continue
            # Other writes read and change what the appends cache (a thread's last
            # seq, its members): store the counters first and read afresh after.
            appends.flush()
            conn.execute("SAVEPOINT op")
            try:
                results.append(op.fn(conn, *op.args))
            except StoreError as exc:
                conn.execute("ROLLBACK TO op")
                results.append(exc)
            conn.execute("RELEASE op")
        appends.flush()
    return results


class _Appends:
    """The appends of one transaction, with what they learn kept for the next ones."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._last_seq: dict[str, int] = {}
        self._members: dict[tuple[str, str], bool] = {}
        self._touched: dict[str, tuple[int, int]] = {}  # thread -> (last seq, last pos)

    def append(self, op: AppendOp) -> Appended | StoreError:
        conn, message = self._conn, op.message
        thread, sender = message.thread, message.sender
        seq = self._last_seq.get(thread)
        if seq is None:
            row = conn.execute("SELECT last_seq FROM threads WHERE id = ?", (thread,)).fetchone()
            if row is None:
                return ThreadNotFound(thread)
            seq = self._last_seq[thread] = row[0]
        if sender is not None:
            key = (thread, sender)
            member = self._members.get(key)
            if member is None:
                member = self._members[key] = _is_member(conn, thread, sender)
            if not member:
                return NotAMember(f"{sender} is not a member of {thread}")
        if message.cid is not None:
            row = conn.execute(
                # The expression of the unique index messages_by_cid, so the index serves it.
                f"SELECT {COLUMNS} FROM messages"
                " WHERE thread = ? AND COALESCE(sender, '') = ? AND cid = ?",
                (thread, sender or "", message.cid),
            ).fetchone()
            if row is not None:
                # A resend, or a second copy in this very batch: the original, once.
                return Appended(row_to_message(row), duplicate=True)
        seq += 1
        cursor = conn.execute(
            "INSERT INTO messages (thread, seq, sender, cid, body, meta, ts, reply_to,"
            " attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (thread, seq, sender, message.cid, message.body, op.meta, message.ts,
             message.reply_to, op.attachments),
        )
        pos = cursor.lastrowid
        assert pos is not None
        if message.push:
            conn.execute("INSERT INTO push_owed (pos, thread, seq, ts) VALUES (?, ?, ?, ?)",
                         (pos, thread, seq, message.ts))
        self._last_seq[thread] = seq
        self._touched[thread] = (seq, pos)
        stored = StoredMessage(
            thread,
            seq,
            pos,
            str(pos),
            sender,
            message.body,
            message.meta,
            message.cid,
            message.ts,
            reply_to=message.reply_to,
            attachments=message.attachments,
        )
        return Appended(stored)

    def flush(self) -> None:
        """Store the threads' counters and forget everything cached."""
        if self._touched:
            self._conn.executemany(
                "UPDATE threads SET last_seq = ?, last_pos = ? WHERE id = ?",
                [(seq, pos, thread) for thread, (seq, pos) in self._touched.items()],
            )
        self._touched.clear()
        self._last_seq.clear()
        self._members.clear()


def _is_member(conn: sqlite3.Connection, thread: str, user: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM members WHERE thread = ? AND user = ?", (thread, user)
    ).fetchone()
    return row is not None
