"""What only the PostgreSQL store does: migrations, schema checks, batches, failures.

The behaviour every store shares is checked in ``tests/contracts``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from realtime.store.base import (
    Appended,
    NewMessage,
    NotAMember,
    StoreError,
    StoreUnavailable,
    Thread,
    ThreadNotFound,
)
from realtime.store.migrate import bundled_migrations, latest_version, migrate, schema_version
from realtime.store.postgres import PostgresStore
from tests.fixtures.servers import free_port


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(postgres_dsn, migrate=True)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def version_of(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await schema_version(conn)
    finally:
        await conn.close()


def message(thread: Thread, sender: str | None, body: str, cid: str | None = None) -> NewMessage:
    return NewMessage(thread.id, sender, body, None, cid, 1)


# -- migrations --------------------------------------------------------------------------


async def test_migrate_applies_every_bundled_migration_in_order(postgres_dsn: str) -> None:
    applied = await migrate(postgres_dsn)
    assert applied == [migration.name for migration in bundled_migrations()]
    assert await version_of(postgres_dsn) == latest_version()


async def test_migrate_twice_applies_nothing_the_second_time(postgres_dsn: str) -> None:
    await migrate(postgres_dsn)
    assert await migrate(postgres_dsn) == []
    assert await version_of(postgres_dsn) == latest_version()


async def test_concurrent_migrations_apply_each_step_once(postgres_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(postgres_dsn) for _ in range(3)))
    applied = sorted(name for names in results for name in names)
    assert applied == sorted(migration.name for migration in bundled_migrations())
    assert await version_of(postgres_dsn) == latest_version()


async def test_schema_version_of_an_empty_database_is_zero(postgres_dsn: str) -> None:
    assert await version_of(postgres_dsn) == 0


# -- opening -----------------------------------------------------------------------------


async def test_store_refuses_to_open_on_an_unmigrated_database(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    with pytest.raises(StoreError, match=r"schema is at version 0.*run `realtime migrate`"):
        await store.open()


async def test_store_opens_after_realtime_migrate(postgres_dsn: str) -> None:
    await migrate(postgres_dsn)
    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        await store.ping()
    finally:
        await store.close()


async def test_store_on_a_closed_port_is_unavailable() -> None:
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", timeout=5)
    with pytest.raises(StoreUnavailable):
        await store.open()


# -- failures while open -----------------------------------------------------------------


async def wait_for_lock_waiter(observer: asyncpg.Connection, database: str) -> None:
    """Return once a backend of ``database`` waits on a lock (bounded deadline)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"
    async with asyncio.timeout(30):
        while True:
            if await observer.fetchval(query, database):
                return
            await asyncio.sleep(0.01)  # a poll interval, not a wait for the outcome


async def append_retrying(store: PostgresStore, new: NewMessage, attempts: int) -> Appended:
    for _ in range(attempts - 1):
        try:
            return await store.append(new)
        except StoreUnavailable:
            continue
    return await store.append(new)


async def test_a_batch_whose_connection_drops_fails_unavailable_and_the_store_recovers(
    store: PostgresStore, postgres_server: str
) -> None:
    thread = await store.ensure_dm("alice", "bob")
    database = store.dsn.rsplit("/", 1)[1]
    blocker = await asyncpg.connect(store.dsn)
    observer = await asyncpg.connect(postgres_server)
    try:
        # Hold the position counter so that the batch is in flight when its
        # connection is killed.
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("SELECT last FROM positions FOR UPDATE")
        pending = asyncio.create_task(store.append(message(thread, "alice", "lost")))
        await wait_for_lock_waiter(observer, database)
        await observer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> $2",
            database,
            blocker.get_server_pid(),
        )
        with pytest.raises(StoreUnavailable):
            await pending
        await holding.rollback()
    finally:
        await blocker.close()
        await observer.close()
    # Dead pooled connections are found out and replaced as they are used.
    appended = await append_retrying(store, message(thread, "alice", "kept"), attempts=4)
    assert appended.message.seq == 1
    page = await store.history(thread.id, None, 10)
    assert [m.body for m in page.messages] == ["kept"]


# -- group commit ------------------------------------------------------------------------


async def test_concurrent_appends_share_transactions(store: PostgresStore) -> None:
    thread = await store.ensure_dm("alice", "bob")
    appended = await asyncio.gather(
        *(store.append(message(thread, "alice", f"m{i}")) for i in range(200))
    )
    assert sorted(a.message.seq for a in appended) == list(range(1, 201))
    assert sum(size * count for size, count in store.batch_sizes.items()) == 200
    assert max(store.batch_sizes) > 1


async def test_positions_are_contiguous_in_commit_order_across_two_nodes(
    postgres_dsn: str,
) -> None:
    await migrate(postgres_dsn)
    nodes = [PostgresStore(postgres_dsn, batch_max=7) for _ in range(2)]
    for node in nodes:
        await node.open()
    try:
        threads = [await nodes[0].ensure_dm("alice", f"u{i}") for i in range(4)]
        await asyncio.gather(
            *(nodes[i % 2].append(message(threads[i % 4], "alice", f"m{i}")) for i in range(300))
        )
        replay = await nodes[1].messages_after("alice", 0, 1000)
        head = await nodes[0].head()
    finally:
        for node in nodes:
            await node.close()
    assert [m.pos for m in replay] == list(range(1, 301))
    assert head == 300
    for thread in threads:
        seqs = [m.seq for m in replay if m.thread == thread.id]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_duplicates_within_one_batch_store_one_message(store: PostgresStore) -> None:
    thread = await store.ensure_dm("alice", "bob")
    results = await asyncio.gather(
        *(store.append(message(thread, "alice", "hi", cid="same")) for _ in range(5))
    )
    assert len({r.message.pos for r in results}) == 1
    assert [r.duplicate for r in results].count(False) == 1
    assert await store.head() == results[0].message.pos


async def test_concurrent_likes_of_one_post_share_transactions_and_count_exactly(
    store: PostgresStore,
) -> None:
    changes = await asyncio.gather(
        *(store.set_like("hot", f"u{i}", True) for i in range(100)),
        *(store.set_like("hot", f"u{i}", False) for i in range(0, 100, 2)),
    )
    assert [c.changed for c in changes] == [True] * 150
    assert sorted(c.count for c in changes[:100]) == list(range(1, 101))
    assert await store.like_count("hot") == 50


async def test_a_double_like_within_one_batch_counts_once(store: PostgresStore) -> None:
    first, second = await asyncio.gather(
        store.set_like("p", "alice", True), store.set_like("p", "alice", True)
    )
    assert (first.count, first.changed) == (1, True)
    assert (second.count, second.changed) == (1, False)


async def test_one_batch_gives_each_item_its_own_outcome(store: PostgresStore) -> None:
    thread = await store.ensure_dm("alice", "bob")
    stored = await store.append(message(thread, "alice", "old", cid="c0"))
    # A batch commits when full: these six appends share one call to the database.
    batching = PostgresStore(store.dsn, batch_max=6, batch_window=60.0)
    await batching.open()
    try:
        outcomes = await asyncio.gather(
            batching.append(message(thread, "alice", "a", cid="c1")),
            batching.append(message(thread, "mallory", "not a member", cid="c2")),
            batching.append(NewMessage("dm:nobody:none", "alice", "no thread", None, "c3", 1)),
            batching.append(message(thread, "alice", "resent", cid="c0")),
            batching.append(message(thread, None, "system")),
            batching.append(message(thread, "alice", "a again", cid="c1")),
            return_exceptions=True,
        )
        head = await batching.head()
    finally:
        await batching.close()
    assert batching.batch_sizes[6] == 1
    first, not_member, no_thread, resent, system, copy = outcomes
    assert isinstance(not_member, NotAMember)
    assert isinstance(no_thread, ThreadNotFound)
    assert isinstance(first, Appended) and isinstance(system, Appended)
    assert [first.message.seq, system.message.seq] == [2, 3]
    assert [first.message.pos, system.message.pos] == [2, 3]
    assert isinstance(resent, Appended) and resent.duplicate
    assert (resent.message.pos, resent.message.body) == (stored.message.pos, "old")
    assert isinstance(copy, Appended) and copy.duplicate and copy.message == first.message
    assert head == 3


async def test_a_resend_waiting_behind_another_node_gets_that_nodes_message(
    postgres_dsn: str, postgres_server: str
) -> None:
    await migrate(postgres_dsn)
    nodes = [PostgresStore(postgres_dsn) for _ in range(2)]
    for node in nodes:
        await node.open()
    blocker = await asyncpg.connect(postgres_dsn)
    observer = await asyncpg.connect(postgres_server)
    try:
        thread = await nodes[0].ensure_dm("alice", "bob")
        database = postgres_dsn.rsplit("/", 1)[1]
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("SELECT last FROM positions FOR UPDATE")
        # Both nodes queue the same message behind the counter; whichever gets it second
        # must see the first one's commit, not fail on the idempotency key.
        sends = [
            asyncio.create_task(node.append(message(thread, "alice", "hi", cid="once")))
            for node in nodes
        ]
        await wait_for_lock_waiters(observer, database, 2)
        await holding.rollback()
        results = await asyncio.gather(*sends)
        head = await nodes[0].head()
    finally:
        await blocker.close()
        await observer.close()
        for node in nodes:
            await node.close()
    assert sorted(r.duplicate for r in results) == [False, True]
    assert results[0].message == results[1].message
    assert head == 1


async def wait_for_lock_waiters(observer: asyncpg.Connection, database: str, count: int) -> None:
    """Return once ``count`` backends of ``database`` wait on a lock (bounded deadline)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"
    async with asyncio.timeout(30):
        while True:
            if await observer.fetchval(query, database) >= count:
                return
            await asyncio.sleep(0.01)  # a poll interval, not a wait for the outcome

