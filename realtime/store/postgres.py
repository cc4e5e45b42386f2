"""The cluster store: PostgreSQL through an asyncpg pool, shared by every node.

:class:`PostgresStore` answers reads from a connection pool. Appends go through group
commit: :meth:`PostgresStore.append` queues the message and waits; one writer task
takes everything queued (up to ``batch_max``) and commits it in one round trip: one
call of the database function ``rt_append_batch``, which commits as it returns (see
:mod:`realtime.store.postgres_append`).
Each append returns only after that commit: acked means durable.

The schema is not migrated by :meth:`~PostgresStore.open` unless asked
(``migrate=True``): in a cluster, ``realtime migrate`` applies it once, and a node
started against an older schema refuses to open with :class:`StoreError`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from realtime.store import migrate as migrations
from realtime.store import postgres_groups as groups
from realtime.store import postgres_social as social
from realtime.store.base import (
    MAX_EMOJI_PER_MESSAGE,
    MAX_REACTIONS_PER_USER,
    Appended,
    Changed,
    DeviceToken,
    GroupChange,
    GroupChanged,
    HistoryPage,
    LikeChange,
    MessageNotFound,
    NewChange,
    NewMessage,
    NotAMember,
    NotTheSender,
    SchemaBehind,
    Store,
    StoredMessage,
    StoreError,
    StoreUnavailable,
    Thread,
    ThreadNotFound,
    ThreadSummary,
    TooManyReactions,
    dm_thread_id,
    failed_future,
)
from realtime.store.group_commit import GroupCommit
from realtime.store.postgres_append import COLUMNS, append_batch, row_to_message
from realtime.store.postgres_errors import is_unavailable, unavailable

log = logging.getLogger(__name__)

_NO_BOUND = 1 << 62


_DM_BLOCKS = ("ARRAY(SELECT blocker FROM blocks WHERE (blocker = $2[1] AND blocked = $2[2])"
              " OR (blocker = $2[2] AND blocked = $2[1]) ORDER BY blocker)")
"""The members of a DM ($2: its two members, or one) who block the other one."""

REPLAYS_PER_QUERY = 64
"""Replays read by one query at most (each is up to its page of messages)."""


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


def _encode_jsonb(value: Any) -> bytes:
    # jsonb's binary format: a version byte (1), then the JSON text.
    return b"\x01" + msgspec.json.encode(value)


def _decode_jsonb(data: bytes) -> Any:
    return msgspec.json.decode(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python values (meta). Binary, so that COPY can carry it.
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Reset nothing when a connection returns to the pool.

    The store never changes a session's state (no SET, LISTEN, cursors or session-level
    advisory locks), and asyncpg itself rolls back a transaction left open; its default
    reset would cost a round trip on every use of a connection.
    """


class PostgresStore(Store):
    """A :class:`Store` in the PostgreSQL database at ``dsn``.

    ``pool_min`` and ``pool_max`` size the connection pool (the append writer keeps
    one of them). ``batch_max`` bounds how many appends share a transaction.
    ``batch_window`` is how long an append may wait for others to join its batch
    (0: commit at once; see :mod:`realtime.store.group_commit`): it trades a few
    milliseconds of latency for fewer, larger commits. ``timeout`` bounds connecting and every
    statement. ``migrate=True`` applies pending migrations in :meth:`open` (a single
    node, tests); otherwise run ``realtime migrate`` first.

    A ``PostgresStore`` opens once: to reopen, build a new one.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_min: int = 2,
        pool_max: int = 10,
        batch_max: int = 1000,
        batch_window: float = 0.002,
        timeout: float = 10.0,
        migrate: bool = False,
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        if batch_window < 0:
            raise ValueError("batch_window must not be negative")
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ValueError("need 0 <= pool_min <= pool_max and pool_max >= 1")
        self.dsn = dsn
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._batch_max = batch_max
        self._batch_window = batch_window
        self._timeout = timeout
        self._migrate = migrate
        self._state = _State.NEW
        self._pool: asyncpg.Pool | None = None
        self._append_conn: asyncpg.Connection | None = None
        """The connection the append writer holds between batches."""
        self._closed = asyncio.Event()
        self._appends: GroupCommit[NewMessage, Appended] = GroupCommit(
            "postgres-appends",
            self._commit_appends,
            batch_max=batch_max,
            batch_window=batch_window,
            unavailable=is_unavailable,
        )
        # Likes of a hot post all update its counter row: one transaction each would
        # queue them on that row lock, one commit at a time.
        self._likes: GroupCommit[tuple[str, str, bool], LikeChange] = GroupCommit(
            "postgres-likes",
            self._commit_likes,
            batch_max=batch_max,
            batch_window=batch_window,
            unavailable=is_unavailable,
        )
        self._heads: GroupCommit[None, int] = GroupCommit(
            "postgres-heads", self._read_heads, batch_max=100_000, batch_window=0,
            unavailable=is_unavailable,
        )
        # A reconnect storm asks for thousands of replays at once: those queued together
        # share one query (each answer is at most its limit of rows, so batches stay small).
        self._replays: GroupCommit[tuple[str, int, int], list[StoredMessage]] = GroupCommit(
            "postgres-replays", self._read_replays, batch_max=REPLAYS_PER_QUERY,
            batch_window=0, unavailable=is_unavailable,
        )
        # Changes to messages from many sessions share a statement and a commit, in the
        # order they were made.
        self._changes: GroupCommit[NewChange, Changed] = GroupCommit(
            "postgres-changes", self._commit_changes, batch_max=batch_max,
            batch_window=batch_window, unavailable=is_unavailable,
        )
        # Every disconnect stores a last-seen time: after a node restart, thousands at once.
        self._last_seen: GroupCommit[tuple[str, int], None] = GroupCommit(
            "postgres-last-seen",
            self._commit_last_seen,
            batch_max=batch_max,
            batch_window=batch_window,
            unavailable=is_unavailable,
        )

    @property
    def batch_sizes(self) -> Counter[int]:
        """How many append batches of each size were committed (for measurements)."""
        return self._appends.batch_sizes

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect the pool, check (or apply) the schema, start the writer task.

        Raise :class:`StoreUnavailable` when the database cannot be reached, and
        :class:`StoreError` when its schema is older than this release's.
        """
        if self._state is not _State.NEW:
            raise RuntimeError(f"cannot open a store that is {self._state.value}")
        self._state = _State.OPEN
        try:
            with unavailable("open"):
                if self._migrate:
                    applied = await migrations.migrate(self.dsn)
                    if applied:
                        log.info("postgres store: applied migrations %s", applied)
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=self._pool_min,
                    max_size=self._pool_max,
                    init=_init_connection,
                    reset=_keep_session,
                    timeout=self._timeout,
                    command_timeout=self._timeout,
                )
                async with self._pool.acquire(timeout=self._timeout) as conn:
                    version = await migrations.schema_version(conn)
            latest = migrations.latest_version()
            # A newer schema is accepted: migrations are additive, so nodes of the
            # previous release keep running during a rolling upgrade.
            if version < latest:
                raise SchemaBehind(
                    f"schema is at version {version}, this release needs {latest}:"
                    " run `realtime migrate`"
                )
        except BaseException:
            await self._release()
            self._state = _State.CLOSED
            self._closed.set()
            raise
        self._appends.start()
        self._changes.start()
        self._likes.start()
        self._last_seen.start()
        self._heads.start()
        self._replays.start()

    async def close(self) -> None:
        """Commit every queued append, stop the writer task, close the pool.

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
            # Order: the writers commit what is queued, then the pool closes.
            await self._appends.close()
            await self._changes.close()
            await self._likes.close()
            await self._last_seen.close()
            await self._heads.close()
            await self._replays.close()
        finally:
            await self._release_append_connection()
            await self._release()
            self._state = _State.CLOSED
            self._closed.set()

    async def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await pool.close()
        except Exception:
            # A connection that will not close politely (server gone) is dropped.
            pool.terminate()

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless ``SELECT 1`` answers."""
        await self._fetchval("ping", "SELECT 1")

    # -- threads -------------------------------------------------------------------------

    async def ensure_dm(self, a: str, b: str) -> Thread:
        thread = dm_thread_id(a, b)
        members = sorted({a, b})
        # One statement, so one round trip and its own transaction: the members' foreign
        # key is checked at the statement's end, after the thread row is in.
        blocked = await self._fetchval(
            "ensure_dm",
            "WITH made AS (INSERT INTO threads (id, kind) VALUES ($1, 'dm')"
            " ON CONFLICT DO NOTHING),"
            " joined AS (INSERT INTO members (thread, user_id) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING)"
            f" SELECT {_DM_BLOCKS}",
            thread,
            members,
        )
        return Thread(thread, "dm", tuple(members), blocked=tuple(blocked or ()))

    async def open_group(self, creator: str | None, members: Sequence[str],
                         title: str | None, ts: int) -> GroupChanged:
        async with self._connection("open_group") as conn:
            return await groups.open_group(conn, creator, members, title, ts)

    async def change_group(self, change: GroupChange) -> GroupChanged:
        async with self._connection("change_group") as conn:
            return await groups.change_group(conn, change)

    async def groups_created_since(self, user: str, ts: int) -> int:
        async with self._connection("groups_created_since") as conn:
            return await groups.groups_created_since(conn, user, ts)

    async def get_thread(self, thread: str) -> Thread | None:
        row = await self._fetchrow(
            "get_thread",
            "SELECT kind, title, ARRAY(SELECT user_id FROM members WHERE thread = $1"
            " ORDER BY user_id),"
            " ARRAY(SELECT user_id FROM members WHERE thread = $1 AND admin"
            " ORDER BY user_id),"
            " CASE WHEN kind = 'dm' THEN ARRAY(SELECT b.blocker FROM blocks AS b"
            "  JOIN members AS x ON x.thread = $1 AND x.user_id = b.blocker"
            "  JOIN members AS y ON y.thread = $1 AND y.user_id = b.blocked"
            "  ORDER BY b.blocker) END"
            " FROM threads WHERE id = $1",
            thread,
        )
        if row is None:
            return None
        kind, title, members, admins, blocked = row
        return Thread(thread, kind, tuple(members), title, tuple(admins), tuple(blocked or ()))

    async def threads_of(self, user: str) -> list[ThreadSummary]:
        """``user``'s threads, the one with the newest message first; threads without a
        message come last, the most recently created first."""
        rows = await self._fetch(
            "threads_of",
            """
            SELECT t.id, t.kind, t.title, mb.read_seq,
                   ARRAY(SELECT user_id FROM members WHERE thread = t.id ORDER BY user_id),
                   (SELECT count(*) FROM messages AS m
                     WHERE m.thread = t.id AND m.seq > mb.read_seq AND m.kind IS NULL
                       AND m.sender IS DISTINCT FROM $1),
                   l.thread, l.seq, l.pos, l.sender, l.cid, l.body, l.meta, l.ts, l.kind,
                   l.target, l.reply_to, l.attachments, l.edited, l.deleted, l.emoji,
                   l.react_on,
                   (SELECT array_agg(ARRAY[r.emoji, r.user_id] ORDER BY r.at)
                      FROM reactions AS r WHERE r.thread = t.id AND r.seq = l.seq),
                   ARRAY(SELECT user_id FROM members WHERE thread = t.id AND admin
                         ORDER BY user_id),
                   mb.muted
            FROM members AS mb
            JOIN threads AS t ON t.id = mb.thread
            -- The last message, not the last entry: changes are folded into it.
            LEFT JOIN LATERAL (
                SELECT * FROM messages AS m WHERE m.thread = t.id AND m.kind IS NULL
                ORDER BY m.seq DESC LIMIT 1
            ) AS l ON true
            WHERE mb.user_id = $1
            ORDER BY t.last_pos DESC, t.created DESC
            """,
            user,
        )
        summaries = []
        for row in rows:
            thread, kind, title, read_seq, members, unread = row[:6]
            last = None
            if row[6] is not None:
                last = row_to_message(row[6:22])
                if row[22]:
                    last = msgspec.structs.replace(last, reactions=_fold(row[22]))
            info = Thread(thread, kind, tuple(members), title, tuple(row[23]))
            muted = row[24]
            summaries.append(ThreadSummary(
                info, last, unread, read_seq,
                False if muted is None else True if muted == 0 else int(muted)))
        return summaries

    async def shares_thread(self, a: str, b: str) -> bool:
        shared = await self._fetchval(
            "shares_thread",
            "SELECT EXISTS (SELECT 1 FROM members AS ma JOIN members AS mb"
            " ON mb.thread = ma.thread AND mb.user_id = $2 WHERE ma.user_id = $1)",
            a,
            b,
        )
        return bool(shared)

    # -- messages ------------------------------------------------------------------------

    async def append(self, message: NewMessage) -> Appended:
        return await self.append_soon(message)

    def append_soon(self, message: NewMessage) -> asyncio.Future[Appended]:
        if self._state is not _State.OPEN:
            return failed_future(StoreUnavailable("the store is closed"))
        return self._appends.submit_soon(message)

    async def change(self, change: NewChange) -> Changed:
        return await self.change_soon(change)

    def change_soon(self, change: NewChange) -> asyncio.Future[Changed]:
        if self._state is not _State.OPEN:
            return failed_future(StoreUnavailable("the store is closed"))
        return self._changes.submit_soon(change)

    async def _commit_changes(self, items: Sequence[NewChange]) -> list[Changed | StoreError]:
        async with self._connection("change") as conn:
            rows = await conn.fetch(
                "SELECT idx, outcome, seq, pos, t_sender, t_body, t_meta FROM rt_change_batch("
                "$1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],"
                " $6::text[]::jsonb[], $7::boolean[], $8::text[], $9::boolean[], $10::bigint[])",
                [c.thread for c in items], [c.user for c in items], [c.kind for c in items],
                [c.target for c in items], [c.body for c in items],
                # As JSON text: asyncpg would take a list inside the array for a dimension.
                [None if c.meta is None else msgspec.json.encode(c.meta).decode()
                 for c in items],
                [c.replace_meta for c in items], [c.emoji for c in items],
                [c.on for c in items], [c.ts for c in items],
            )
        if len(rows) != len(items):
            raise RuntimeError(f"rt_change_batch answered {len(rows)} rows for {len(items)}")
        return [_changed(change, row[1:]) for change, row in zip(items, rows, strict=True)]

    async def is_message(self, thread: str, seq: int) -> bool:
        return bool(await self._fetchval(
            "is_message",
            "SELECT EXISTS (SELECT 1 FROM messages WHERE thread = $1 AND seq = $2"
            " AND kind IS NULL)", thread, seq))

    async def entries(self, thread: str, after: int, before: int) -> list[StoredMessage]:
        rows = await self._fetch(
            "entries",
            f"SELECT {COLUMNS} FROM messages WHERE thread = $1 AND seq > $2 AND seq < $3"
            " ORDER BY seq", thread, after, before)
        return [row_to_message(row) for row in rows]

    async def history(self, thread: str, before: int | None, limit: int) -> HistoryPage:
        """A page of messages in their current state; one query, whatever the changes:
        each message's reactions come with it."""
        limit = max(limit, 0)
        rows = await self._fetch(
            "history",
            f"SELECT {COLUMNS},"
            " (SELECT array_agg(ARRAY[r.emoji, r.user_id] ORDER BY r.at) FROM reactions AS r"
            "   WHERE r.thread = m.thread AND r.seq = m.seq)"
            " FROM messages AS m WHERE thread = $1 AND seq < $2 AND kind IS NULL"
            " ORDER BY seq DESC LIMIT $3",
            thread,
            before if before is not None else _NO_BOUND,
            limit + 1,
        )
        page = []
        for row in rows[:limit]:
            message = row_to_message(row[:16])
            if row[16]:
                message = msgspec.structs.replace(message, reactions=_fold(row[16]))
            page.append(message)
        page.reverse()
        return HistoryPage(page, len(rows) > limit)

    async def messages_after(self, user: str, pos: int, limit: int) -> list[StoredMessage]:
        if self._state is not _State.OPEN and self._state is not _State.CLOSING:
            raise StoreUnavailable("the store is closed")
        return await self._replays.submit((user, pos, max(limit, 0)))

    async def _read_replays(self, asks: Sequence[tuple[str, int, int]]
                            ) -> list[list[StoredMessage]]:
        # One statement, so every page is read from the same snapshot, each in pos order
        # (commit order), exactly as one query per user would.
        rows = await self._fetch(
            "messages_after",
            f"SELECT r.i, {COLUMNS}"
            " FROM unnest($1::text[], $2::bigint[], $3::int[])"
            "  WITH ORDINALITY AS r(user_id, after, lim, i)"
            " CROSS JOIN LATERAL ("
            "  SELECT m.*"
            "  FROM (SELECT thread, 9223372036854775807 AS until FROM members"
            "        WHERE user_id = r.user_id"
            "        UNION ALL SELECT thread, until FROM departures"
            "        WHERE user_id = r.user_id) AS mb"
            "  JOIN messages AS m ON m.thread = mb.thread"
            "  WHERE m.pos > r.after AND m.pos <= mb.until ORDER BY m.pos LIMIT r.lim"
            " ) AS m ORDER BY r.i, m.pos",
            [user for user, _, _ in asks],
            [pos for _, pos, _ in asks],
            [limit for _, _, limit in asks],
        )
        pages: list[list[StoredMessage]] = [[] for _ in asks]
        for row in rows:
            pages[row[0] - 1].append(row_to_message(row[1:]))
        return pages

    async def head(self) -> int:
        # Every connection asks for "now" once: callers queued together share one read,
        # which starts after each of them asked, so each gets a head at least as new as
        # its call (what a welcome cursor needs).
        if self._state is not _State.OPEN and self._state is not _State.CLOSING:
            raise StoreUnavailable("the store is closed")
        return await self._heads.submit(None)

    async def _read_heads(self, callers: Sequence[None]) -> list[int]:
        # The counter only ever advances by the messages a batch stored, in the same
        # transaction: it is the largest committed pos.
        head = int(await self._fetchval("head", "SELECT last FROM positions"))
        return [head] * len(callers)

    # -- read pointers -------------------------------------------------------------------

    async def mark_read(self, thread: str, user: str, seq: int) -> int:
        """Raise the read pointer (never lower it, never past the last seq) and return it.

        Raise :class:`ThreadNotFound` or :class:`NotAMember`.
        """
        row = await self._fetchrow(
            "mark_read",
            """
            WITH moved AS (
                UPDATE members AS mb
                SET read_seq = GREATEST(mb.read_seq, LEAST($3::bigint, t.last_seq))
                FROM threads AS t
                WHERE t.id = mb.thread AND mb.thread = $1 AND mb.user_id = $2
                RETURNING mb.read_seq
            )
            SELECT (SELECT read_seq FROM moved), EXISTS (SELECT 1 FROM threads WHERE id = $1)
            """,
            thread,
            user,
            seq,
        )
        assert row is not None
        stored, exists = row
        if not exists:
            raise ThreadNotFound(thread)
        if stored is None:
            raise NotAMember(f"{user} is not a member of {thread}")
        return int(stored)

    # -- posts and likes -----------------------------------------------------------------

    async def set_post_owner(self, post: str, owner: str) -> None:
        async with self._connection("set_post_owner") as conn:
            await social.set_post_owner(conn, post, owner)

    async def post_owner(self, post: str) -> str | None:
        async with self._connection("post_owner") as conn:
            return await social.post_owner(conn, post)

    async def set_like(self, post: str, user: str, on: bool) -> LikeChange:
        if self._state is not _State.OPEN:
            raise StoreUnavailable("the store is closed")
        return await self._likes.submit((post, user, on))

    async def like_count(self, post: str) -> int:
        async with self._connection("like_count") as conn:
            return await social.like_count(conn, post)

    # -- devices (push) ------------------------------------------------------------------

    async def add_device(self, user: str, token: str, platform: str) -> None:
        async with self._connection("add_device") as conn:
            await social.add_device(conn, user, token, platform)

    async def remove_device(self, token: str) -> bool:
        async with self._connection("remove_device") as conn:
            return await social.remove_device(conn, token)

    async def devices_of(self, users: Sequence[str]) -> list[DeviceToken]:
        async with self._connection("devices_of") as conn:
            return await social.devices_of(conn, users)

    # -- blocks and mutes ----------------------------------------------------------------

    async def set_block(self, blocker: str, blocked: str, on: bool) -> None:
        async with self._connection("set_block") as conn:
            await groups.set_block(conn, blocker, blocked, on)

    async def blockers(self, user: str, others: Sequence[str]) -> set[str]:
        async with self._connection("blockers") as conn:
            return await groups.blockers(conn, user, others)

    async def blocked_by(self, user: str) -> set[str]:
        async with self._connection("blocked_by") as conn:
            return await groups.blocked_by(conn, user)

    async def set_mute(self, thread: str, user: str, until: int | bool) -> None:
        async with self._connection("set_mute") as conn:
            await groups.set_mute(conn, thread, user, until)

    async def muted(self, thread: str, users: Sequence[str], now: int) -> set[str]:
        async with self._connection("muted") as conn:
            return await groups.muted(conn, thread, users, now)

    # -- presence ------------------------------------------------------------------------

    async def set_last_seen(self, user: str, ts: int) -> None:
        # Also while closing: sessions that end during a drain still store theirs.
        if self._state is not _State.OPEN and self._state is not _State.CLOSING:
            raise StoreUnavailable("the store is closed")
        await self._last_seen.submit((user, ts))

    async def last_seen(self, users: Sequence[str]) -> dict[str, int]:
        async with self._connection("last_seen") as conn:
            return await social.last_seen(conn, users)

    # -- group commits -------------------------------------------------------------------

    async def _commit_appends(self, items: Sequence[NewMessage]) -> list[Appended | StoreError]:
        # The append writer keeps its connection between batches: taking one from the
        # pool and giving it back cost as much CPU as the batch itself at small sizes.
        conn = self._append_conn
        if conn is None or not _usable(conn):
            self._append_conn = None
            if self._pool is None:
                raise StoreUnavailable("the store is closed")
            with unavailable("append"):
                conn = await self._pool.acquire(timeout=self._timeout)
            self._append_conn = conn
        try:
            return await append_batch(conn, items)
        except BaseException:
            # The connection may be broken or mid-cancel: the next batch takes another.
            await self._release_append_connection()
            raise

    async def _release_append_connection(self) -> None:
        conn, self._append_conn = self._append_conn, None
        if conn is not None and self._pool is not None:
            try:
                await self._pool.release(conn)
            except Exception:
                log.debug("postgres store: releasing a connection failed", exc_info=True)

    async def _commit_last_seen(self, items: Sequence[tuple[str, int]]) -> list[None]:
        async with self._connection("set_last_seen") as conn:
            return await social.last_seen_batch(conn, items)

    async def _commit_likes(self, items: Sequence[tuple[str, str, bool]]) -> list[LikeChange]:
        async with self._connection("set_like") as conn:
            return await social.like_batch(conn, items)

    # -- the pool ------------------------------------------------------------------------

    def _connection(self, what: str) -> _Acquired:
        # Not only while open: closing, the writers still commit what was queued.
        if self._pool is None:
            raise StoreUnavailable("the store is closed")
        return _Acquired(self._pool, what, self._timeout)

    async def _fetch(self, what: str, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self._connection(what) as conn:
            return await conn.fetch(query, *args)

    async def _fetchrow(self, what: str, query: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection(what) as conn:
            return await conn.fetchrow(query, *args)

    async def _fetchval(self, what: str, query: str, *args: Any) -> Any:
        async with self._connection(what) as conn:
            return await conn.fetchval(query, *args)


def _changed(change: NewChange, row: Sequence[Any]) -> Changed | StoreError:
    """One item's outcome of ``rt_change_batch``: its result, or its error."""
    outcome, seq, pos, sender, body, meta = row
    if outcome == 2:
        return ThreadNotFound(change.thread)
    if outcome == 3:
        return NotAMember(f"{change.user} is not a member of {change.thread}")
    if outcome == 4:
        return MessageNotFound(f"no message {change.target} in {change.thread}")
    if outcome == 5:
        return NotTheSender("only its sender may change a message")
    if outcome == 6:
        return TooManyReactions(
            f"at most {MAX_REACTIONS_PER_USER} reactions per user and"
            f" {MAX_EMOJI_PER_MESSAGE} emoji per message")
    target = StoredMessage(change.thread, change.target, 0, "", sender, body, meta, None, 0)
    if outcome == 1:
        return Changed(None, seq, target)
    react, edit = change.kind == "react", change.kind == "edit"
    entry = StoredMessage(
        change.thread, seq, pos, str(pos), change.user, body if edit else "",
        meta if edit else None, None, change.ts, kind=change.kind, target=change.target,
        emoji=change.emoji if react else None, on=change.on if react else None,
    )
    return Changed(entry, seq, target)


def _fold(pairs: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    """[[emoji, user], ...] in the order they reacted, as {emoji: [users]}."""
    folded: dict[str, list[str]] = {}
    for emoji, user in pairs:
        folded.setdefault(emoji, []).append(user)
    return folded


def _usable(conn: asyncpg.Connection) -> bool:
    """Whether a connection taken from the pool can still run statements."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool took it back when the server ended it: it is the pool's again.
        return False


class _Acquired:
    """``async with``: a pool connection, with unavailability mapped to StoreUnavailable."""

    def __init__(self, pool: asyncpg.Pool, what: str, timeout: float) -> None:
        self._pool = pool
        self._what = what
        self._timeout = timeout
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        with unavailable(self._what):
            self._conn = await self._pool.acquire(timeout=self._timeout)
        return self._conn

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._pool.release(conn)
            except Exception:
                log.debug("postgres store: releasing a connection failed", exc_info=True)
        if exc is not None and is_unavailable(exc):
            raise StoreUnavailable(f"postgres {self._what}: {type(exc).__name__}: {exc}") from exc
