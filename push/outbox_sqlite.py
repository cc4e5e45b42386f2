"""`SqliteOutbox`: the outbox in tables of an SQLite file, for a single node.

A node's outbox lives in its store's database file, in tables of the store's migrations
(``push_outbox``, ``push_owed``), so that a message's commit owes its push in the same
transaction. SQLite's WAL mode and busy timeout let the store and the outbox write the
same file from their own connections; :meth:`open` also creates the tables if missing,
for an outbox used without the store. :meth:`adopt` moves the jobs of an outbox kept in
a file of its own (as earlier releases did) into this one.

sqlite3 blocks, so one worker thread owns the connection and runs every statement; the
event loop only awaits it. Each operation is one ``BEGIN IMMEDIATE`` transaction, so a
claim cannot interleave with another writer.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from push.messages import PushMessage
from push.outbox import (
    DEFAULT_DEDUPE_WINDOW,
    DEFAULT_LEASE,
    Outbox,
    OwedPush,
    PushJob,
    announces,
    decode_message,
    encode_message,
    job_key,
    message_digest,
    seq_pattern,
)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS push_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    digest TEXT NOT NULL,
    message TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    due_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease TEXT,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS push_outbox_due ON push_outbox (due_at) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS push_outbox_key ON push_outbox (key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS push_outbox_done ON push_outbox (done_at) WHERE done_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS push_owed (
    pos INTEGER PRIMARY KEY,
    thread TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_owed_by_ts ON push_owed (ts);
"""

_COPIED = "key, digest, message, enqueued_at, due_at, attempts"


class SqliteOutbox(Outbox):
    """:class:`~push.outbox.Outbox` in the SQLite file at ``path`` (created if missing)."""

    def __init__(
        self,
        path: str | Path,
        *,
        lease: float = DEFAULT_LEASE,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
    ) -> None:
        self.path = str(path)
        self.lease = lease
        self.dedupe_window = dedupe_window
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-outbox")
        await self._run(self._open)

    async def close(self) -> None:
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close)
        finally:
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            raise RuntimeError("the outbox is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # -- in the outbox's thread ----------------------------------------------------------

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(SCHEMA)
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _enqueue(self, messages: Sequence[PushMessage], now: float) -> int:
        def body(conn: sqlite3.Connection) -> int:
            return sum(self._enqueue_one(conn, message, now) for message in messages)

        return self._transaction(body)

    def _enqueue_one(self, conn: sqlite3.Connection, message: PushMessage, now: float) -> int:
        key = job_key(message)
        digest = message_digest(message)
        encoded = encode_message(message)
        if key is not None:
            duplicate = conn.execute(
                "SELECT 1 FROM push_outbox WHERE key = ? AND digest = ?"
                " AND (done_at IS NULL OR done_at >= ?) LIMIT 1",
                (key, digest, now - self.dedupe_window),
            ).fetchone()
            if duplicate is not None:
                return 0
            replaced = conn.execute(
                "UPDATE push_outbox SET message = ?, digest = ? WHERE id = ("
                " SELECT id FROM push_outbox WHERE key = ? AND done_at IS NULL"
                " AND lease IS NULL LIMIT 1)",
                (encoded, digest, key),
            ).rowcount
            if replaced:
                return 1
        conn.execute(
            "INSERT INTO push_outbox (key, digest, message, enqueued_at, due_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, digest, encoded, now, now),
        )
        return 1

    def _discharge(self, pos: int, messages: Sequence[PushMessage], now: float) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            if conn.execute("DELETE FROM push_owed WHERE pos = ?", (pos,)).rowcount != 1:
                return False
            for message in messages:
                self._enqueue_one(conn, message, now)
            return True

        return self._transaction(body)

    def _owed(self, until_ms: int, limit: int) -> list[OwedPush]:
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT pos, thread, seq, ts FROM push_owed WHERE ts <= ? ORDER BY ts, pos LIMIT ?",
            (until_ms, limit),
        ).fetchall()
        return [OwedPush(*row) for row in rows]

    def _adopt(self, legacy: Path) -> int:
        if not legacy.is_file() or legacy.resolve() == Path(self.path).resolve():
            return 0
        moved = self._copy_from(str(legacy))
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{legacy}{suffix}")
            if part.exists():
                part.rename(Path(f"{legacy}.moved{suffix}"))
        return moved

    def _copy_from(self, path: str) -> int:
        conn = self._conn
        assert conn is not None
        # ATTACH cannot run inside a transaction; the copy is one transaction of its own.
        conn.execute("ATTACH DATABASE ? AS legacy", (path,))
        try:
            has_table = conn.execute(
                "SELECT 1 FROM legacy.sqlite_master WHERE type = 'table'"
                " AND name = 'push_outbox'"
            ).fetchone()

            def body(c: sqlite3.Connection) -> int:
                if has_table is None:
                    return 0
                # Leases of the old file's claims died with the node that held them.
                return c.execute(
                    f"INSERT INTO push_outbox ({_COPIED}) SELECT {_COPIED}"
                    " FROM legacy.push_outbox WHERE done_at IS NULL"
                ).rowcount

            return self._transaction(body)
        finally:
            conn.execute("DETACH DATABASE legacy")

    def _claim(self, limit: int, now: float) -> list[PushJob]:
        lease = secrets.token_hex(8)

        def body(conn: sqlite3.Connection) -> list[PushJob]:
            conn.execute(
                "DELETE FROM push_outbox WHERE done_at IS NOT NULL AND done_at < ?",
                (now - self.dedupe_window,),
            )
            due = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM push_outbox WHERE done_at IS NULL AND due_at <= ?"
                    " ORDER BY due_at, id LIMIT ?",
                    (now, limit),
                )
            ]
            jobs = []
            for job_id in due:
                row = conn.execute(
                    "UPDATE push_outbox SET lease = ? || '-' || id, attempts = attempts + 1,"
                    " due_at = ? WHERE id = ? RETURNING message, attempts, lease, enqueued_at",
                    (lease, now + self.lease, job_id),
                ).fetchone()
                jobs.append(PushJob(job_id, decode_message(row[0]), row[1], row[2], row[3]))
            return jobs

        return self._transaction(body)

    def _settle(self, sql: str, args: tuple[object, ...]) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql, args).rowcount == 1

        return self._transaction(body)

    def _count(self, sql: str, args: tuple[object, ...] = ()) -> object:
        assert self._conn is not None
        return self._conn.execute(sql, args).fetchone()[0]

    # -- the interface -------------------------------------------------------------------

    async def enqueue(self, messages: Sequence[PushMessage], now: float) -> int:
        if not messages:
            return 0
        return await self._run(self._enqueue, messages, now)

    async def claim(self, limit: int, now: float) -> list[PushJob]:
        return await self._run(self._claim, limit, now)

    async def discharge(self, pos: int, messages: Sequence[PushMessage], now: float) -> bool:
        return await self._run(self._discharge, pos, messages, now)

    async def owed(self, until_ms: int, limit: int) -> list[OwedPush]:
        return await self._run(self._owed, until_ms, limit)

    async def withdraw(self, thread: str, seq: int) -> int:
        return await self._run(self._withdraw, thread, seq)

    def _withdraw(self, thread: str, seq: int) -> int:
        def body(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM push_owed WHERE thread = ? AND seq = ?", (thread, seq))
            # The pattern narrows the scan; decoding decides.
            rows = conn.execute("SELECT id, message FROM push_outbox WHERE message LIKE ?",
                                (seq_pattern(seq),)).fetchall()
            gone = [(row_id,) for row_id, text in rows
                    if announces(decode_message(text), thread, seq)]
            conn.executemany("DELETE FROM push_outbox WHERE id = ?", gone)
            return len(gone)

        return self._transaction(body)

    async def adopt(self, path: str | Path) -> int:
        """Move the waiting jobs of the outbox file at ``path`` (earlier releases kept
        the outbox in a file of its own) into this one, and rename that file to
        ``<name>.moved`` so that it is moved once. Returns how many jobs moved; 0 when
        there is no such file."""
        return await self._run(self._adopt, Path(path))

    async def complete(self, job: PushJob, now: float) -> bool:
        if self.dedupe_window > 0 and job_key(job.message) is not None:
            sql = (
                "UPDATE push_outbox SET done_at = ?, lease = NULL, due_at = NULL"
                " WHERE id = ? AND lease = ? AND done_at IS NULL"
            )
            return await self._run(self._settle, sql, (now, job.id, job.lease))
        return await self.drop(job)

    async def retry(self, job: PushJob, at: float) -> bool:
        sql = (
            "UPDATE push_outbox SET due_at = ?, lease = NULL"
            " WHERE id = ? AND lease = ? AND done_at IS NULL"
        )
        return await self._run(self._settle, sql, (at, job.id, job.lease))

    async def drop(self, job: PushJob) -> bool:
        sql = "DELETE FROM push_outbox WHERE id = ? AND lease = ? AND done_at IS NULL"
        return await self._run(self._settle, sql, (job.id, job.lease))

    async def depth(self) -> int:
        count = await self._run(
            self._count, "SELECT count(*) FROM push_outbox WHERE done_at IS NULL"
        )
        return int(count)  # type: ignore[call-overload,no-any-return]

    async def oldest_age(self, now: float) -> float:
        oldest = await self._run(
            self._count, "SELECT min(enqueued_at) FROM push_outbox WHERE done_at IS NULL"
        )
        return max(now - float(oldest), 0.0) if oldest is not None else 0.0  # type: ignore[arg-type]
