"""The embedded store: one SQLite file, the default of a single node.

:class:`SqliteStore` drives Python's ``sqlite3`` from two dedicated threads: a writer
thread owning the write connection and a reader thread owning a read-only one. WAL
mode lets the reader answer from the last committed state while the writer commits.

Group commit: every write (:meth:`SqliteStore.append` and the others) is queued with a
future. One writer task takes everything queued (up to ``batch_max``), optionally waits
``batch_window`` seconds for more, and runs the whole batch in one transaction, in one
call into the writer thread (see :mod:`realtime.store.sqlite_batch`). Each future is
resolved only after that commit (acked means durable: the log is synced on every
commit, ``synchronous=FULL``). Writes are committed in the order they were called.

SQLite has a single writer, so messages get their ``pos`` (the rowid) in commit order.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from realtime.store import sqlite_groups, sqlite_ops, sqlite_social
from realtime.store.base import (
    Appended,
    Changed,
    DeviceToken,
    GroupChange,
    GroupChanged,
    HistoryPage,
    LikeChange,
    NewChange,
    NewMessage,
    Store,
    StoredMessage,
    StoreError,
    StoreUnavailable,
    Thread,
    ThreadSummary,
    failed_future,
)
from realtime.store.sqlite_batch import AppendOp, CallOp, WriteOp, commit_batch
from realtime.store.sqlite_migrations import apply_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Stop:
    """Queued by :meth:`SqliteStore.close` after the last append: the writer task exits."""


_Pending = tuple[WriteOp, "asyncio.Future[Any]"]


class SqliteStore(Store):
    """A :class:`Store` in the SQLite file at ``path`` (its folder is created).

    ``batch_max`` bounds how many appends share a transaction. ``batch_window`` is how
    long the writer waits for more appends when fewer than ``batch_max`` are queued
    (0, the default: commit at once; the writes that arrive while a batch commits form
    the next one anyway, so batches grow with the load by themselves. Measured with 1000
    concurrent appenders, a 2 ms window did not raise throughput, and it made a lone
    append about eight times slower).
    ``synchronous`` is SQLite's ``PRAGMA synchronous``: keep ``"FULL"`` unless losing
    the last acked messages on a power failure is acceptable.

    A ``SqliteStore`` opens once: to reopen the same file, build a new one.
    """

    def __init__(
        self,
        path: str,
        *,
        batch_max: int = 512,
        batch_window: float = 0.0,
        synchronous: str = "FULL",
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        if batch_window < 0:
            raise ValueError("batch_window must not be negative")
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}")
        self.path = path
        self._batch_max = batch_max
        self._batch_window = batch_window
        self._synchronous = synchronous.upper()
        self._state = _State.NEW
        self._queue: asyncio.Queue[_Pending | _Stop] = asyncio.Queue()
        self._writer_pool: ThreadPoolExecutor | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Open both connections, apply pending migrations, start the writer task.

        Raise :class:`StoreUnavailable` when the file cannot be opened or migrated.
        """
        if self._state is not _State.NEW:
            raise RuntimeError(f"cannot open a store that is {self._state.value}")
        self._state = _State.OPEN
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        loop = asyncio.get_running_loop()
        try:
            # The writer connection first: it creates the file and the schema.
            self._write_conn = await loop.run_in_executor(self._writer_pool, self._open_writer)
            self._read_conn = await loop.run_in_executor(
                self._reader_pool,
                functools.partial(
                    sqlite_ops.connect, self.path, synchronous=self._synchronous, query_only=True
                ),
            )
        except (OSError, sqlite3.Error) as exc:
            await self._release()
            self._state = _State.CLOSED
            self._closed.set()
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    def _open_writer(self) -> sqlite3.Connection:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        conn = sqlite_ops.connect(self.path, synchronous=self._synchronous)
        try:
            applied = apply_migrations(conn)
        except BaseException:
            conn.close()
            raise
        if applied:
            log.info("sqlite store %s: applied migrations %s", self.path, applied)
        return conn

    async def close(self) -> None:
        """Commit every queued append, stop the writer task, close both connections.

        Appends made after ``close()`` started raise :class:`StoreUnavailable`.
        Idempotent: a second call waits for the first to finish.
        """
        if self._state is _State.NEW:
            self._state = _State.CLOSED
            self._closed.set()
            return
        if self._state is not _State.OPEN:
            await self._closed.wait()
            return
        self._state = _State.CLOSING
        try:
            # Order: the writer task drains the queue and commits, then the connections
            # close in their own threads, then the threads go.
            if self._writer_task is not None:
                self._queue.put_nowait(_Stop())
                await self._writer_task
        finally:
            await self._release()
            self._state = _State.CLOSED
            self._closed.set()

    async def _release(self) -> None:
        loop = asyncio.get_running_loop()
        for pool, conn in (
            (self._writer_pool, self._write_conn),
            (self._reader_pool, self._read_conn),
        ):
            if pool is None:
                continue
            if conn is not None:
                try:
                    await loop.run_in_executor(pool, conn.close)
                except sqlite3.Error:
                    log.exception("sqlite store %s: closing a connection failed", self.path)
            # Every job has finished: the thread exits without being waited for.
            pool.shutdown(wait=False)
        self._write_conn = self._read_conn = None
        self._writer_pool = self._reader_pool = None

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless a trivial query answers."""
        await self._read(sqlite_ops.ping)

    # -- threads -------------------------------------------------------------------------

    async def ensure_dm(self, a: str, b: str) -> Thread:
        return await self._write(sqlite_ops.ensure_dm, a, b)

    async def open_group(self, creator: str | None, members: Sequence[str],
                         title: str | None, ts: int) -> GroupChanged:
        return await self._write(sqlite_groups.open_group, creator, list(members), title, ts)

    async def change_group(self, change: GroupChange) -> GroupChanged:
        return await self._write(sqlite_groups.change_group, change)

    async def groups_created_since(self, user: str, ts: int) -> int:
        return await self._read(sqlite_groups.groups_created_since, user, ts)

    async def get_thread(self, thread: str) -> Thread | None:
        return await self._read(sqlite_ops.get_thread, thread)

    async def threads_of(self, user: str) -> list[ThreadSummary]:
        return await self._read(sqlite_ops.threads_of, user)

    async def shares_thread(self, a: str, b: str) -> bool:
        return await self._read(sqlite_ops.shares_thread, a, b)

    # -- messages ------------------------------------------------------------------------

    async def append(self, message: NewMessage) -> Appended:
        return await self.append_soon(message)

    def append_soon(self, message: NewMessage) -> asyncio.Future[Appended]:
        # Encoded here, so a meta that cannot be encoded fails only its own caller.
        try:
            meta = sqlite_ops.encode_meta(message.meta)
            attachments = sqlite_ops.encode_meta(message.attachments)
        except Exception as exc:
            return failed_future(exc)
        return self._submit_soon(AppendOp(message, meta, attachments))

    async def change(self, change: NewChange) -> Changed:
        return await self.change_soon(change)

    def change_soon(self, change: NewChange) -> asyncio.Future[Changed]:
        # Queued now, in the writer's order: one batch commits many sessions' changes.
        return self._submit_soon(CallOp(sqlite_ops.change, (change,)))

    async def is_message(self, thread: str, seq: int) -> bool:
        return await self._read(sqlite_ops.is_message, thread, seq)

    async def entries(self, thread: str, after: int, before: int) -> list[StoredMessage]:
        return await self._read(sqlite_ops.entries, thread, after, before)

    async def history(self, thread: str, before: int | None, limit: int) -> HistoryPage:
        return await self._read(sqlite_ops.history, thread, before, limit)

    async def messages_after(self, user: str, pos: int, limit: int) -> list[StoredMessage]:
        return await self._read(sqlite_ops.messages_after, user, pos, limit)

    async def head(self) -> int:
        return await self._read(sqlite_ops.head)

    # -- read pointers -------------------------------------------------------------------

    async def mark_read(self, thread: str, user: str, seq: int) -> int:
        """Raise the read pointer (never lower it, never past the last seq) and return it.

        Raise :class:`ThreadNotFound` or :class:`NotAMember`.
        """
        return await self._write(sqlite_ops.mark_read, thread, user, seq)

    # -- posts and likes -----------------------------------------------------------------

    async def set_post_owner(self, post: str, owner: str) -> None:
        await self._write(sqlite_social.set_post_owner, post, owner)

    async def post_owner(self, post: str) -> str | None:
        return await self._read(sqlite_social.post_owner, post)

    async def set_like(self, post: str, user: str, on: bool) -> LikeChange:
        return await self._write(sqlite_social.set_like, post, user, on)

    async def like_count(self, post: str) -> int:
        return await self._read(sqlite_social.like_count, post)

    # -- devices (push) ------------------------------------------------------------------

    async def add_device(self, user: str, token: str, platform: str) -> None:
        await self._write(sqlite_social.add_device, user, token, platform)

    async def remove_device(self, token: str) -> bool:
        return await self._write(sqlite_social.remove_device, token)

    async def devices_of(self, users: Sequence[str]) -> list[DeviceToken]:
        return await self._read(sqlite_social.devices_of, list(users))

    # -- blocks and mutes ----------------------------------------------------------------

    async def set_block(self, blocker: str, blocked: str, on: bool) -> None:
        await self._write(sqlite_groups.set_block, blocker, blocked, on)

    async def blockers(self, user: str, others: Sequence[str]) -> set[str]:
        return await self._read(sqlite_groups.blockers, user, list(others))

    async def blocked_by(self, user: str) -> set[str]:
        return await self._read(sqlite_groups.blocked_by, user)

    async def set_mute(self, thread: str, user: str, until: int | bool) -> None:
        await self._write(sqlite_groups.set_mute, thread, user, until)

    async def muted(self, thread: str, users: Sequence[str], now: int) -> set[str]:
        return await self._read(sqlite_groups.muted, thread, list(users), now)

    # -- presence ------------------------------------------------------------------------

    async def set_last_seen(self, user: str, ts: int) -> None:
        await self._write(sqlite_social.set_last_seen, user, ts)

    async def last_seen(self, users: Sequence[str]) -> dict[str, int]:
        return await self._read(sqlite_social.last_seen, list(users))

    # -- the writer task -----------------------------------------------------------------

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in the next batch's transaction; return its result."""
        result: T = await self._submit(CallOp(fn, args))
        return result

    async def _submit(self, op: WriteOp) -> Any:
        return await self._submit_soon(op)

    def _submit_soon(self, op: WriteOp) -> asyncio.Future[Any]:
        if self._state is not _State.OPEN:
            return failed_future(StoreUnavailable("the store is closed"))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return future

    async def _write_loop(self) -> None:
        """Take batches off the queue and commit them, until the stop marker."""
        batch: list[_Pending] = []
        try:
            while True:
                item = await self._queue.get()
                stop = isinstance(item, _Stop)
                if not isinstance(item, _Stop):
                    batch.append(item)
                    stop = self._take_queued(batch)
                    if not stop and len(batch) < self._batch_max and self._batch_window > 0:
                        await asyncio.sleep(self._batch_window)
                        stop = self._take_queued(batch)
                if batch:
                    await self._commit(batch)
                    batch = []
                if stop:
                    return
        finally:
            # Only reached with work left when the task is cancelled: nobody waits forever.
            self._fail_pending(batch, StoreUnavailable("the store was stopped"))

    def _take_queued(self, batch: list[_Pending]) -> bool:
        """Move queued writes into ``batch`` up to ``batch_max``; True at the stop marker."""
        while len(batch) < self._batch_max:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
            if isinstance(item, _Stop):
                return True
            batch.append(item)
        return False

    async def _commit(self, batch: list[_Pending]) -> None:
        # A write whose caller gave up (cancelled) is not made.
        live = [(op, future) for op, future in batch if not future.done()]
        if not live:
            return
        ops = [op for op, _ in live]
        try:
            results = await self._call(self._writer_pool, self._write_conn, commit_batch, (ops,))
        except StoreUnavailable as exc:
            self._fail_pending(live, exc)
            return
        except Exception:
            log.exception("sqlite store %s: a batch of %d writes failed", self.path, len(ops))
            self._fail_pending(live, StoreUnavailable("the batch could not be committed"))
            return
        for (_, future), result in zip(live, results, strict=True):
            if future.done():
                continue
            if isinstance(result, StoreError):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _fail_pending(self, batch: list[_Pending], error: StoreError) -> None:
        pending = list(batch)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not isinstance(item, _Stop):
                pending.append(item)
        for _, future in pending:
            if not future.done():
                future.set_exception(error)

    # -- threads of the connections ------------------------------------------------------

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(self._reader_pool, self._read_conn, fn, args)

    async def _call(
        self,
        pool: ThreadPoolExecutor | None,
        conn: sqlite3.Connection | None,
        fn: Callable[..., T],
        args: tuple[Any, ...],
    ) -> T:
        if pool is None or conn is None or self._state is _State.CLOSED:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, functools.partial(fn, conn, *args))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
