"""`PostgresOutbox`: the outbox in PostgreSQL, shared by every node of a cluster.

Every node may run a worker on it: a claim takes due rows with ``FOR UPDATE SKIP
LOCKED``, so concurrent claimers never wait on each other and never take the same row,
and the lease it writes keeps the row away from later claims until it runs out.
Enqueues of one job key are serialised by a transaction-scoped advisory lock on the
key, so two nodes enqueueing the same push at once still make one job.

The tables are the store's migrations' (they live in the same database, so that a
message's commit can owe its push in the same transaction); :meth:`open` also creates
them if missing (``CREATE ... IF NOT EXISTS`` under an advisory lock, so nodes starting
together do not race on the catalog), for an outbox used without the store.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import asyncpg

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

SCHEMA_LOCK = 0x70757368  # "push": any constant other code does not use
KEY_LOCK_SPACE = 0x6B6579  # seed of the per-key advisory locks

SCHEMA = """
CREATE TABLE IF NOT EXISTS push_outbox (
    id bigserial PRIMARY KEY,
    key text,
    digest text NOT NULL,
    message text NOT NULL,
    enqueued_at double precision NOT NULL,
    due_at double precision,
    attempts integer NOT NULL DEFAULT 0,
    lease text,
    done_at double precision
);
CREATE INDEX IF NOT EXISTS push_outbox_due ON push_outbox (due_at) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS push_outbox_key ON push_outbox (key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS push_outbox_done ON push_outbox (done_at) WHERE done_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS push_owed (
    pos bigint PRIMARY KEY,
    thread text NOT NULL,
    seq bigint NOT NULL,
    ts bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS push_owed_by_ts ON push_owed (ts);
"""

_DUPLICATE = """
SELECT 1 FROM push_outbox WHERE key = $1 AND digest = $2
AND (done_at IS NULL OR done_at >= $3) LIMIT 1
"""

_REPLACE = """
UPDATE push_outbox SET message = $3, digest = $2 WHERE id = (
    SELECT id FROM push_outbox WHERE key = $1 AND done_at IS NULL AND lease IS NULL
    LIMIT 1 FOR UPDATE)
"""

_INSERT = """
INSERT INTO push_outbox (key, digest, message, enqueued_at, due_at)
VALUES ($1, $2, $3, $4, $4)
"""

_CLAIM = """
WITH due AS (
    SELECT id, due_at FROM push_outbox
    WHERE done_at IS NULL AND due_at <= $1
    ORDER BY due_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE push_outbox AS o
SET lease = $3 || '-' || o.id, attempts = o.attempts + 1, due_at = $4
FROM due WHERE o.id = due.id
RETURNING o.id, o.message, o.attempts, o.lease, o.enqueued_at, due.due_at AS was_due
"""


class PostgresOutbox(Outbox):
    """:class:`~push.outbox.Outbox` in table ``push_outbox`` of the database at ``dsn``."""

    def __init__(
        self,
        dsn: str,
        *,
        lease: float = DEFAULT_LEASE,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        pool_size: int = 4,
    ) -> None:
        self.dsn = dsn
        self.lease = lease
        self.dedupe_window = dedupe_window
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self._pool_size)
        await self.ensure_schema()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the outbox is not open")
        return self._pool

    async def ensure_schema(self) -> None:
        """Create the outbox's table and indexes if they are missing. Idempotent, and safe
        to run from several nodes at once."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
            await conn.execute(SCHEMA)

    async def enqueue(self, messages: Sequence[PushMessage], now: float) -> int:
        if not messages:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._enqueue(conn, messages, now)

    async def discharge(self, pos: int, messages: Sequence[PushMessage], now: float) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # The row lock of the DELETE makes a second discharge wait, then find nothing.
            if await conn.execute("DELETE FROM push_owed WHERE pos = $1", pos) != "DELETE 1":
                return False
            await self._enqueue(conn, messages, now)
        return True

    async def withdraw(self, thread: str, seq: int) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM push_owed WHERE thread = $1 AND seq = $2",
                               thread, seq)
            # The pattern narrows the scan; decoding decides.
            rows = await conn.fetch("SELECT id, message FROM push_outbox WHERE message LIKE $1",
                                    seq_pattern(seq))
            gone = [row["id"] for row in rows
                    if announces(decode_message(row["message"]), thread, seq)]
            if gone:
                await conn.execute("DELETE FROM push_outbox WHERE id = ANY($1::bigint[])", gone)
        return len(gone)

    async def owed(self, until_ms: int, limit: int) -> list[OwedPush]:
        rows = await self.pool.fetch(
            "SELECT pos, thread, seq, ts FROM push_owed WHERE ts <= $1 ORDER BY ts, pos"
            " LIMIT $2",
            until_ms,
            limit,
        )
        return [OwedPush(row["pos"], row["thread"], row["seq"], row["ts"]) for row in rows]

    async def _enqueue(
        self, conn: asyncpg.Connection, messages: Sequence[PushMessage], now: float
    ) -> int:
        # Lock keys in one order, so two enqueues of overlapping batches cannot deadlock.
        prepared = sorted(
            ((job_key(m), message_digest(m), encode_message(m)) for m in messages),
            key=lambda item: item[0] or "",
        )
        accepted = 0
        for key, digest, encoded in prepared:
            if key is not None:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                    key,
                    KEY_LOCK_SPACE,
                )
                if await conn.fetchval(_DUPLICATE, key, digest, now - self.dedupe_window):
                    continue
                if await conn.execute(_REPLACE, key, digest, encoded) == "UPDATE 1":
                    accepted += 1
                    continue
            await conn.execute(_INSERT, key, digest, encoded, now)
            accepted += 1
        return accepted

    async def claim(self, limit: int, now: float) -> list[PushJob]:
        lease = secrets.token_hex(8)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM push_outbox WHERE done_at IS NOT NULL AND done_at < $1",
                now - self.dedupe_window,
            )
            rows = await conn.fetch(_CLAIM, now, limit, lease, now + self.lease)
        rows = sorted(rows, key=lambda row: (row["was_due"], row["id"]))
        return [
            PushJob(
                row["id"],
                decode_message(row["message"]),
                row["attempts"],
                row["lease"],
                row["enqueued_at"],
            )
            for row in rows
        ]

    async def complete(self, job: PushJob, now: float) -> bool:
        if self.dedupe_window > 0 and job_key(job.message) is not None:
            status = await self.pool.execute(
                "UPDATE push_outbox SET done_at = $1, lease = NULL, due_at = NULL"
                " WHERE id = $2 AND lease = $3 AND done_at IS NULL",
                now,
                job.id,
                job.lease,
            )
            return bool(status == "UPDATE 1")
        return await self.drop(job)

    async def retry(self, job: PushJob, at: float) -> bool:
        status = await self.pool.execute(
            "UPDATE push_outbox SET due_at = $1, lease = NULL"
            " WHERE id = $2 AND lease = $3 AND done_at IS NULL",
            at,
            job.id,
            job.lease,
        )
        return bool(status == "UPDATE 1")

    async def drop(self, job: PushJob) -> bool:
        status = await self.pool.execute(
            "DELETE FROM push_outbox WHERE id = $1 AND lease = $2 AND done_at IS NULL",
            job.id,
            job.lease,
        )
        return bool(status == "DELETE 1")

    async def depth(self) -> int:
        return int(
            await self.pool.fetchval("SELECT count(*) FROM push_outbox WHERE done_at IS NULL")
        )

    async def oldest_age(self, now: float) -> float:
        oldest = await self.pool.fetchval(
            "SELECT min(enqueued_at) FROM push_outbox WHERE done_at IS NULL"
        )
        return max(now - float(oldest), 0.0) if oldest is not None else 0.0
