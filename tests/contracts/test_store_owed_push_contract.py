"""A message that owes a push records it in its own commit, in the outbox of the same
database, on every store; the outbox discharges each record once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from push.messages import PushMessage, for_chat_message
from push.outbox import Outbox, OwedPush
from push.outbox_postgres import PostgresOutbox
from push.outbox_sqlite import SqliteOutbox
from realtime.store.base import NewMessage, Store
from realtime.store.sqlite import SqliteStore

LATER = 10**15
"""An ``until_ms`` after every message of these tests."""


def outbox_beside(store: Store) -> Outbox:
    """The outbox in ``store``'s own database, as a node builds it."""
    if isinstance(store, SqliteStore):
        return SqliteOutbox(store.path)
    return PostgresOutbox(store.dsn)  # type: ignore[attr-defined]  # a PostgresStore


@pytest.fixture
async def outbox(store: Store) -> AsyncIterator[Outbox]:
    opened = outbox_beside(store)
    await opened.open()
    yield opened
    await opened.close()


def chat(token: str, body: str) -> PushMessage:
    return for_chat_message("t", "ann", body, 1).to(token)


async def test_a_committed_message_that_owes_a_push_is_owed(store: Store,
                                                            outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    appended = await store.append(NewMessage(dm.id, "ann", "hi", cid="c1", ts=1_000,
                                             push=True))
    m = appended.message
    assert await outbox.owed(LATER, 10) == [OwedPush(m.pos, dm.id, m.seq, 1_000)]


async def test_a_message_without_push_owes_nothing(store: Store, outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    await store.append(NewMessage(dm.id, "ann", "hi", cid="c1", ts=1_000))
    assert await outbox.owed(LATER, 10) == []


async def test_a_resend_owes_nothing_more(store: Store, outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    first = await store.append(NewMessage(dm.id, "ann", "hi", cid="c1", ts=1_000, push=True))
    again = await store.append(NewMessage(dm.id, "ann", "hi", cid="c1", ts=2_000, push=True))
    assert again.duplicate
    assert [o.pos for o in await outbox.owed(LATER, 10)] == [first.message.pos]


async def test_a_refused_message_owes_nothing(store: Store, outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    with pytest.raises(Exception):  # noqa: B017 - which refusal is the store contract's
        await store.append(NewMessage(dm.id, "eve", "hi", cid="c1", ts=1_000, push=True))
    assert await outbox.owed(LATER, 10) == []


async def test_owed_pushes_are_listed_up_to_a_time_oldest_first(store: Store,
                                                                outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    for ts in (3_000, 1_000, 2_000):
        await store.append(NewMessage(dm.id, "ann", f"at {ts}", cid=str(ts), ts=ts, push=True))
    assert [o.ts for o in await outbox.owed(2_000, 10)] == [1_000, 2_000]
    assert [o.ts for o in await outbox.owed(LATER, 1)] == [1_000]


async def test_a_discharge_enqueues_its_jobs_and_forgets_the_record(store: Store,
                                                                    outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    pos = (await store.append(NewMessage(dm.id, "ann", "hi", cid="c1", ts=1_000,
                                         push=True))).message.pos
    assert await outbox.discharge(pos, [chat("tok-bob", "hi")], now=5.0)
    assert await outbox.owed(LATER, 10) == []
    [job] = await outbox.claim(10, now=5.0)
    assert job.message == chat("tok-bob", "hi")


async def test_a_second_discharge_of_one_record_enqueues_nothing(store: Store,
                                                                 outbox: Outbox) -> None:
    dm = await store.ensure_dm("ann", "bob")
    pos = (await store.append(NewMessage(dm.id, "ann", "hi", cid="c1", ts=1_000,
                                         push=True))).message.pos
    assert await outbox.discharge(pos, [], now=5.0)  # every recipient was live
    assert not await outbox.discharge(pos, [chat("tok-bob", "hi")], now=6.0)
    assert await outbox.claim(10, now=6.0) == []


async def test_an_outbox_in_a_file_of_its_own_moves_into_the_stores(tmp_path: Path) -> None:
    legacy = SqliteOutbox(tmp_path / "push.db")
    await legacy.open()
    await legacy.enqueue([chat("tok-bob", "waiting")], now=1.0)
    await legacy.close()
    store = SqliteStore(str(tmp_path / "realtime.db"))
    await store.open()
    outbox = SqliteOutbox(store.path)
    await outbox.open()
    try:
        assert await outbox.adopt(tmp_path / "push.db") == 1
        assert await outbox.adopt(tmp_path / "push.db") == 0  # moved once
        [job] = await outbox.claim(10, now=1.0)
    finally:
        await outbox.close()
        await store.close()
    assert job.message == chat("tok-bob", "waiting")
    assert not (tmp_path / "push.db").exists()
