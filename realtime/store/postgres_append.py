"""One group commit of the PostgreSQL store: a batch of appends in one transaction.

:func:`append_batch` runs a constant number of set-based statements whatever the
batch size (arrays through ``unnest``), not one statement per message:

1. check that each thread exists and each sender is a member (no lock taken);
2. lock the ``positions`` counter row;
3. find the messages already stored under the batch's idempotency keys;
4. allocate each thread's ``seq`` block: ``UPDATE threads SET last_seq = last_seq + n``;
5. advance the counter by the number of new messages;
6. insert the new messages.

Why the counter comes first and is held to the commit: ``pos`` must increase in commit
order across every node, because a cursor is a ``pos`` and replay asks for
``pos > cursor``. Holding the counter row lock until commit serializes the batch
transactions of all nodes, so a batch with larger positions cannot commit before one
with smaller positions. It also makes steps 3-6 race-free (no other writer can insert
the same key meanwhile) and rules out deadlocks: every writer takes the counter, then
thread rows, and only one writer at a time gets past the counter.

The counter is locked with ``SELECT ... FOR UPDATE`` and advanced by the exact number
of new messages once duplicates are known, so that ``positions.last`` is always the
largest stored ``pos`` (the store's head).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg

from realtime.store.base import (
    Appended,
    NewMessage,
    NotAMember,
    StoredMessage,
    StoreError,
    ThreadNotFound,
)

COLUMNS = "thread, seq, pos, sender, cid, body, meta, ts"

_CHECK = """
SELECT x.thread, x.sender, t.id IS NOT NULL AS thread_exists, m.user_id IS NOT NULL AS member
FROM unnest($1::text[], $2::text[]) AS x(thread, sender)
LEFT JOIN threads AS t ON t.id = x.thread
LEFT JOIN members AS m ON m.thread = x.thread AND m.user_id = x.sender
"""

_LOCK = "SELECT last FROM positions FOR UPDATE"

# COALESCE(sender, '') is the expression of the unique index messages_by_cid.
_ORIGINALS = f"""
SELECT {", ".join("m." + column for column in COLUMNS.split(", "))}
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(thread, sender, cid)
JOIN messages AS m
  ON m.thread = k.thread AND COALESCE(m.sender, '') = k.sender AND m.cid = k.cid
"""

_ALLOCATE = """
UPDATE threads AS t SET last_seq = t.last_seq + x.n, last_pos = x.last_pos
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS x(id, n, last_pos)
WHERE t.id = x.id
RETURNING t.id, t.last_seq
"""

_ADVANCE = "UPDATE positions SET last = $1"

_COPY_COLUMNS = COLUMNS.split(", ")

Result = Appended | StoreError
"""Per item of a batch: the append's result, or the error of that item alone."""


def row_to_message(row: asyncpg.Record) -> StoredMessage:
    """A ``messages`` row (selected as :data:`COLUMNS`) as a :class:`StoredMessage`."""
    thread, seq, pos, sender, cid, body, meta, ts = row
    return StoredMessage(thread, seq, pos, str(pos), sender, body, meta, cid, ts)


def _key(message: NewMessage) -> tuple[str, str, str] | None:
    # User ids are never empty, so '' stands for the NULL sender of a system message.
    if message.cid is None:
        return None
    return (message.thread, message.sender or "", message.cid)


async def append_batch(conn: asyncpg.Connection, items: Sequence[NewMessage]) -> list[Result]:
    """Commit ``items`` in one transaction on ``conn``; return each item's outcome.

    Returns only after the commit. An item fails alone with :class:`ThreadNotFound` or
    :class:`NotAMember`; a resend of a stored ``(thread, sender, cid)``, or a second copy
    within the batch, gets the original with ``duplicate=True``. A database error rolls
    back the whole batch and is raised.
    """
    results: list[Result | None] = [None] * len(items)
    async with conn.transaction():
        pairs = sorted({(m.thread, m.sender) for m in items}, key=lambda p: (p[0], p[1] or ""))
        checked = await conn.fetch(_CHECK, [p[0] for p in pairs], [p[1] for p in pairs])
        verdict: dict[tuple[str, str | None], StoreError | None] = {}
        for thread, sender, thread_exists, member in checked:
            if not thread_exists:
                verdict[(thread, sender)] = ThreadNotFound(thread)
            elif sender is not None and not member:
                verdict[(thread, sender)] = NotAMember(f"{sender} is not a member of {thread}")
            else:
                verdict[(thread, sender)] = None

        # Items that pass, the first of each idempotency key; later copies point at it.
        candidates: list[int] = []
        first_of: dict[tuple[str, str, str], int] = {}
        copies: list[tuple[int, int]] = []
        for index, message in enumerate(items):
            error = verdict[(message.thread, message.sender)]
            if error is not None:
                results[index] = error
                continue
            key = _key(message)
            if key is not None:
                if key in first_of:
                    copies.append((index, first_of[key]))
                    continue
                first_of[key] = index
            candidates.append(index)

        if candidates:
            last_pos = await conn.fetchval(_LOCK)
            originals: dict[tuple[str, str, str], StoredMessage] = {}
            if first_of:
                keys = list(first_of)
                for row in await conn.fetch(
                    _ORIGINALS, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]
                ):
                    stored = row_to_message(row)
                    originals[(stored.thread, stored.sender or "", stored.cid or "")] = stored
            fresh: list[int] = []
            for index in candidates:
                key = _key(items[index])
                if key is not None and key in originals:
                    results[index] = Appended(originals[key], duplicate=True)
                else:
                    fresh.append(index)
            if fresh:
                await _insert(conn, items, fresh, last_pos, results)

    for index, original in copies:
        first = results[original]
        if isinstance(first, Appended):
            results[index] = Appended(first.message, duplicate=True)
        else:
            results[index] = first
    done = [result for result in results if result is not None]
    if len(done) != len(items):
        raise RuntimeError("a batch item was left without an outcome")
    return done


async def _insert(
    conn: asyncpg.Connection,
    items: Sequence[NewMessage],
    fresh: list[int],
    last_pos: int,
    results: list[Result | None],
) -> None:
    """Allocate ``seq`` and ``pos`` for the ``fresh`` items, insert them, fill ``results``."""
    per_thread = Counter(items[index].thread for index in fresh)
    threads = sorted(per_thread)
    # pos follows batch order; a thread's last_pos is the pos of its last fresh item.
    newest: dict[str, int] = {}
    for offset, index in enumerate(fresh, start=1):
        newest[items[index].thread] = last_pos + offset
    allocated = await conn.fetch(
        _ALLOCATE, threads, [per_thread[t] for t in threads], [newest[t] for t in threads]
    )
    next_seq = {thread: top - per_thread[thread] + 1 for thread, top in allocated}
    await conn.execute(_ADVANCE, last_pos + len(fresh))

    records: list[tuple[Any, ...]] = []
    for offset, index in enumerate(fresh, start=1):
        message = items[index]
        seq = next_seq[message.thread]
        next_seq[message.thread] = seq + 1
        pos = last_pos + offset
        stored = StoredMessage(
            message.thread,
            seq,
            pos,
            str(pos),
            message.sender,
            message.body,
            message.meta,
            message.cid,
            message.ts,
        )
        records.append(
            (
                stored.thread,
                seq,
                pos,
                stored.sender,
                stored.cid,
                stored.body,
                stored.meta,
                stored.ts,
            )
        )
        results[index] = Appended(stored)
    await conn.copy_records_to_table("messages", records=records, columns=_COPY_COLUMNS)
