"""`MemoryOutbox`: the outbox of one process, over the pure :class:`OutboxTable`.

Not durable across restarts: for a node without a database worth the name, and as the
reference the durable outboxes are compared with.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from push.messages import PushMessage
from push.outbox import (
    DEFAULT_DEDUPE_WINDOW,
    DEFAULT_LEASE,
    Outbox,
    OwedPush,
    PushJob,
    announces,
    job_key,
    message_digest,
)


@dataclass(slots=True)
class _Row:
    id: int
    key: str | None
    digest: str
    message: PushMessage
    enqueued_at: float
    due_at: float
    attempts: int = 0
    lease: str | None = None
    done_at: float | None = None


class OutboxTable:
    """The outbox contract as a plain data structure: no I/O, no clock of its own."""

    def __init__(
        self, *, lease: float = DEFAULT_LEASE, dedupe_window: float = DEFAULT_DEDUPE_WINDOW
    ) -> None:
        self.lease = lease
        self.dedupe_window = dedupe_window
        self._rows: dict[int, _Row] = {}
        self._ids = itertools.count(1)
        self._leases = itertools.count(1)
        self._owed: dict[int, OwedPush] = {}

    def owe(self, owed: OwedPush) -> None:
        """Record an owed push (what a store's commit writes into a durable outbox)."""
        self._owed[owed.pos] = owed

    def discharge(self, pos: int, messages: Sequence[PushMessage], now: float) -> bool:
        if self._owed.pop(pos, None) is None:
            return False
        self.enqueue(messages, now)
        return True

    def owed(self, until_ms: int, limit: int) -> list[OwedPush]:
        due = sorted((o for o in self._owed.values() if o.ts <= until_ms),
                     key=lambda o: (o.ts, o.pos))
        return due[:limit]

    def enqueue(self, messages: Sequence[PushMessage], now: float) -> int:
        accepted = 0
        for message in messages:
            accepted += self._enqueue_one(message, now)
        return accepted

    def _enqueue_one(self, message: PushMessage, now: float) -> int:
        key = job_key(message)
        digest = message_digest(message)
        if key is not None:
            same_key = [row for row in self._rows.values() if row.key == key]
            horizon = now - self.dedupe_window
            if any(
                row.digest == digest and (row.done_at is None or row.done_at >= horizon)
                for row in same_key
            ):
                return 0
            for row in same_key:
                if row.done_at is None and row.lease is None:
                    row.message, row.digest = message, digest
                    return 1
        row_id = next(self._ids)
        self._rows[row_id] = _Row(row_id, key, digest, message, now, now)
        return 1

    def claim(self, limit: int, now: float) -> list[PushJob]:
        self._prune(now)
        due = sorted(
            (row for row in self._rows.values() if row.done_at is None and row.due_at <= now),
            key=lambda row: (row.due_at, row.id),
        )[:limit]
        jobs = []
        for row in due:
            row.lease = f"m{next(self._leases)}"
            row.attempts += 1
            row.due_at = now + self.lease
            jobs.append(PushJob(row.id, row.message, row.attempts, row.lease, row.enqueued_at))
        return jobs

    def _held(self, job: PushJob) -> _Row | None:
        row = self._rows.get(job.id)
        if row is None or row.done_at is not None or row.lease != job.lease:
            return None
        return row

    def complete(self, job: PushJob, now: float) -> bool:
        row = self._held(job)
        if row is None:
            return False
        if self.dedupe_window > 0 and row.key is not None:
            row.done_at, row.lease = now, None
        else:
            del self._rows[row.id]
        return True

    def retry(self, job: PushJob, at: float) -> bool:
        row = self._held(job)
        if row is None:
            return False
        row.due_at, row.lease = at, None
        return True

    def drop(self, job: PushJob) -> bool:
        row = self._held(job)
        if row is None:
            return False
        del self._rows[row.id]
        return True

    def withdraw(self, thread: str, seq: int) -> int:
        for pos in [p for p, o in self._owed.items() if o.thread == thread and o.seq == seq]:
            del self._owed[pos]
        gone = [row.id for row in self._rows.values() if announces(row.message, thread, seq)]
        for row_id in gone:
            del self._rows[row_id]
        return len(gone)

    def depth(self) -> int:
        return sum(1 for row in self._rows.values() if row.done_at is None)

    def oldest_age(self, now: float) -> float:
        pending = [row.enqueued_at for row in self._rows.values() if row.done_at is None]
        return max(now - min(pending), 0.0) if pending else 0.0

    def _prune(self, now: float) -> None:
        horizon = now - self.dedupe_window
        for row in [r for r in self._rows.values() if r.done_at is not None]:
            if row.done_at is not None and row.done_at < horizon:
                del self._rows[row.id]


class MemoryOutbox(Outbox):
    """:class:`~push.outbox.Outbox` over an :class:`OutboxTable` in this process."""

    def __init__(
        self, *, lease: float = DEFAULT_LEASE, dedupe_window: float = DEFAULT_DEDUPE_WINDOW
    ) -> None:
        self._table = OutboxTable(lease=lease, dedupe_window=dedupe_window)
        self.lease = lease
        self.dedupe_window = dedupe_window

    async def enqueue(self, messages: Sequence[PushMessage], now: float) -> int:
        return self._table.enqueue(messages, now)

    async def claim(self, limit: int, now: float) -> list[PushJob]:
        return self._table.claim(limit, now)

    async def complete(self, job: PushJob, now: float) -> bool:
        return self._table.complete(job, now)

    async def retry(self, job: PushJob, at: float) -> bool:
        return self._table.retry(job, at)

    async def drop(self, job: PushJob) -> bool:
        return self._table.drop(job)

    def owe(self, owed: OwedPush) -> None:
        """Record an owed push, as a durable store's commit would."""
        self._table.owe(owed)

    async def discharge(self, pos: int, messages: Sequence[PushMessage], now: float) -> bool:
        return self._table.discharge(pos, messages, now)

    async def withdraw(self, thread: str, seq: int) -> int:
        return self._table.withdraw(thread, seq)

    async def owed(self, until_ms: int, limit: int) -> list[OwedPush]:
        return self._table.owed(until_ms, limit)

    async def depth(self) -> int:
        return self._table.depth()

    async def oldest_age(self, now: float) -> float:
        return self._table.oldest_age(now)
