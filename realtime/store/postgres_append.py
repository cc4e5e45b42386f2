"""One group commit of the PostgreSQL store: a batch of appends in one round trip.

:func:`append_batch` sends the whole batch as parallel arrays to the database function
``rt_append_batch`` (migration 0003) in a single autocommit statement: the statement's
implicit transaction commits before its result comes back, so the batch costs one round
trip whatever its size. In the database, the function:

1. locks the ``positions`` counter row;
2. judges each item: its thread exists, its sender is a member;
3. finds the messages already stored under the items' idempotency keys;
4. allocates each thread's ``seq`` block: ``UPDATE threads SET last_seq = last_seq + n``;
5. inserts the new messages and advances the counter by their number.

Why the counter comes first and is held to the commit: ``pos`` must increase in commit
order across every node, because a cursor is a ``pos`` and replay asks for
``pos > cursor``. Holding the counter row lock until commit serializes the batches of
all nodes, so a batch with larger positions cannot commit before one with smaller
positions. It also makes steps 2-5 race-free (no other writer can insert the same key
meanwhile) and rules out deadlocks: every writer takes the counter, then thread rows,
and only one writer at a time gets past the counter. The counter advances by the exact
number of new messages, so ``positions.last`` is always the largest stored ``pos``
(the store's head).

Copies of one idempotency key within a batch are folded here, before the call: the
first goes to the database, the others get its outcome (a stored message as a
duplicate, or the same error).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from realtime.store.base import (
    MESSAGE,
    Appended,
    NewMessage,
    NotAMember,
    StoredMessage,
    StoreError,
    ThreadNotFound,
)

COLUMNS = ("thread, seq, pos, sender, cid, body, meta, ts, kind, target, reply_to,"
           " attachments, edited, deleted, emoji, react_on")

_APPEND = (
    "SELECT idx, outcome, seq, pos, body, meta, ts, reply_to, attachments, edited, deleted"
    " FROM rt_append_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[],"
    " $6::bigint[], $7::bigint[], $8::text[]::jsonb[])"
)

# The same, for a batch with messages that owe a push: in the same statement, so in the
# same transaction, each such message stored is recorded in push_owed ($9: which do).
_APPEND_OWING_PUSH = (
    "WITH appended AS MATERIALIZED ("
    " SELECT idx, outcome, seq, pos, body, meta, ts, reply_to, attachments, edited, deleted"
    " FROM rt_append_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[],"
    " $6::bigint[], $7::bigint[], $8::text[]::jsonb[])),"
    " owed AS (INSERT INTO push_owed (pos, thread, seq, ts)"
    " SELECT a.pos, ($1::text[])[a.idx], a.seq, ($6::bigint[])[a.idx] FROM appended AS a"
    " WHERE a.outcome = 0 AND ($9::boolean[])[a.idx])"
    " SELECT idx, outcome, seq, pos, body, meta, ts, reply_to, attachments, edited, deleted"
    " FROM appended ORDER BY idx"
)

# The outcome codes of rt_append_batch.
_STORED, _DUPLICATE, _NO_THREAD, _NOT_A_MEMBER = 0, 1, 2, 3

Result = Appended | StoreError
"""Per item of a batch: the append's result, or the error of that item alone."""


def row_to_message(row: asyncpg.Record) -> StoredMessage:
    """A ``messages`` row (selected as :data:`COLUMNS`) as a :class:`StoredMessage`."""
    (thread, seq, pos, sender, cid, body, meta, ts, kind, target, reply_to, attachments,
     edited, deleted, emoji, react_on) = row
    if kind is None and reply_to is None and attachments is None and edited is None \
            and not deleted:
        # The common case: a plain message, built with the fewest arguments.
        return StoredMessage(thread, seq, pos, str(pos), sender, body, meta, cid, ts)
    return StoredMessage(
        thread, seq, pos, str(pos), sender, body, meta, cid, ts, kind=kind or MESSAGE,
        target=target, reply_to=reply_to, attachments=attachments, edited=edited,
        deleted=deleted, emoji=emoji, on=react_on,
    )


async def append_batch(conn: asyncpg.Connection, items: Sequence[NewMessage]) -> list[Result]:
    """Commit ``items`` in one statement on ``conn``; return each item's outcome.

    Returns only after the commit. An item fails alone with :class:`ThreadNotFound` or
    :class:`NotAMember`; a resend of a stored ``(thread, sender, cid)``, or a second copy
    within the batch, gets the original with ``duplicate=True``. A database error rolls
    back the whole batch and is raised. ``conn`` must not be inside a transaction: the
    statement commits on its own.
    """
    # Copies of a key within the batch point at the first one; only firsts are sent.
    sent: list[NewMessage] = []
    slot: list[int] = []
    first_of: dict[tuple[str, str, str], int] = {}
    for message in items:
        if message.cid is not None:
            # User ids are never empty, so '' stands for the NULL sender of a system message.
            key = (message.thread, message.sender or "", message.cid)
            known = first_of.get(key)
            if known is not None:
                slot.append(known)
                continue
            first_of[key] = len(sent)
        slot.append(len(sent))
        sent.append(message)

    owing = any(m.push for m in sent)
    rows = await conn.fetch(
        _APPEND_OWING_PUSH if owing else _APPEND,
        [m.thread for m in sent],
        [m.sender for m in sent],
        [m.cid for m in sent],
        [m.body for m in sent],
        [m.meta for m in sent],
        [m.ts for m in sent],
        [m.reply_to for m in sent],
        # As JSON text: asyncpg would take a list inside the array for a dimension.
        [None if m.attachments is None else msgspec.json.encode(m.attachments).decode()
         for m in sent],
        *([[m.push for m in sent]] if owing else []),
    )
    if len(rows) != len(sent):
        raise RuntimeError(f"rt_append_batch answered {len(rows)} rows for {len(sent)} items")

    outcomes: list[Result] = []
    for message, row in zip(sent, rows, strict=True):
        _, outcome, seq, pos, body, meta, ts, reply_to, attachments, edited, deleted = row
        if outcome == _STORED:
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
                reply_to=message.reply_to,
                attachments=message.attachments,
            )
            outcomes.append(Appended(stored))
        elif outcome == _DUPLICATE:
            original = StoredMessage(
                message.thread, seq, pos, str(pos), message.sender, body, meta, message.cid, ts,
                reply_to=reply_to, attachments=attachments, edited=edited,
                deleted=bool(deleted),
            )
            outcomes.append(Appended(original, duplicate=True))
        elif outcome == _NO_THREAD:
            outcomes.append(ThreadNotFound(message.thread))
        elif outcome == _NOT_A_MEMBER:
            outcomes.append(NotAMember(f"{message.sender} is not a member of {message.thread}"))
        else:
            raise RuntimeError(f"rt_append_batch answered an unknown outcome {outcome}")

    results: list[Result] = []
    seen: set[int] = set()
    for index in slot:
        outcome_of = outcomes[index]
        if index in seen and isinstance(outcome_of, Appended):
            outcome_of = Appended(outcome_of.message, duplicate=True)
        seen.add(index)
        results.append(outcome_of)
    return results
