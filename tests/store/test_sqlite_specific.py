"""What only the SQLite store does: its file, its pragmas, its migrations, its batches.

The behaviour every store shares is checked in ``tests/contracts``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from realtime.store import sqlite_groups, sqlite_ops
from realtime.store.base import (
    Appended,
    GroupChange,
    NewMessage,
    NotAMember,
    StoreError,
    StoreUnavailable,
    ThreadNotFound,
    dm_thread_id,
)
from realtime.store.sqlite import SqliteStore
from realtime.store.sqlite_batch import AppendOp, CallOp, commit_batch
from realtime.store.sqlite_migrations import (
    Migration,
    apply_migrations,
    bundled_migrations,
    schema_version,
)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "data" / "realtime.sqlite3")


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(db_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def conn(db_path: str) -> Iterator[sqlite3.Connection]:
    """A migrated write connection, used directly (no store, no threads)."""
    Path(db_path).parent.mkdir(parents=True)
    connection = sqlite_ops.connect(db_path, synchronous="FULL")
    apply_migrations(connection)
    try:
        yield connection
    finally:
        connection.close()


def tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


# -- the file and its pragmas -------------------------------------------------------------


async def test_open_creates_the_parent_folder(store: SqliteStore, db_path: str) -> None:
    assert await asyncio.to_thread(Path(db_path).is_file)


async def test_database_is_in_wal_mode(store: SqliteStore, db_path: str) -> None:
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_connections_sync_every_commit_by_default(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


async def test_unusable_path_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = SqliteStore(str(blocker / "realtime.sqlite3"))
    with pytest.raises(StoreUnavailable):
        await store.open()
    await store.close()


def test_unknown_synchronous_setting_is_refused(db_path: str) -> None:
    with pytest.raises(ValueError):
        SqliteStore(db_path, synchronous="OFF")


# -- migrations ---------------------------------------------------------------------------


def test_bundled_migrations_start_at_one_without_holes() -> None:
    versions = [m.version for m in bundled_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_migrations_are_idempotent(db_path: str) -> None:
    for _ in range(2):
        store = SqliteStore(db_path)
        await store.open()
        await store.close()
    with sqlite3.connect(db_path, isolation_level=None) as other:
        latest = bundled_migrations()[-1].version
        assert schema_version(other) == latest
        rows = other.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [v for (v,) in rows] == list(range(1, latest + 1))
        assert apply_migrations(other) == []


def test_only_newer_migrations_are_applied(conn: sqlite3.Connection) -> None:
    later = Migration(1000, "1000_extra.sql", "CREATE TABLE extra (x INTEGER);")
    assert apply_migrations(conn, [*bundled_migrations(), later]) == [1000]
    assert "extra" in tables(conn)
    assert schema_version(conn) == 1000


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    connection = sqlite_ops.connect(str(tmp_path / "db.sqlite3"), synchronous="FULL")
    good = Migration(1, "0001_good.sql", "-- a table\nCREATE TABLE good (x INTEGER);\n")
    bad = Migration(2, "0002_bad.sql", "CREATE TABLE worse (x INTEGER);\nNOT SQL AT ALL;\n")
    with pytest.raises(sqlite3.Error):
        apply_migrations(connection, [good, bad])
    assert schema_version(connection) == 0
    assert tables(connection) <= {"schema_version"}
    connection.close()


def test_migration_statements_may_contain_triggers(tmp_path: Path) -> None:
    connection = sqlite_ops.connect(str(tmp_path / "db.sqlite3"), synchronous="FULL")
    script = (
        "CREATE TABLE t (x INTEGER);\n"
        "CREATE TABLE log (x INTEGER);\n"
        "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN\n"
        "    INSERT INTO log VALUES (new.x);\n"
        "END;\n"
    )
    apply_migrations(connection, [Migration(1, "0001_t.sql", script)])
    connection.execute("INSERT INTO t VALUES (7)")
    assert connection.execute("SELECT x FROM log").fetchall() == [(7,)]
    connection.close()


# -- batches ------------------------------------------------------------------------------


def test_one_batch_commits_its_good_items_and_fails_its_bad_ones(
    conn: sqlite3.Connection,
) -> None:
    thread = sqlite_ops.ensure_dm(conn, "alice", "bob")
    results = commit_batch(
        conn,
        [
            AppendOp(NewMessage(thread.id, "alice", "one"), None),
            AppendOp(NewMessage(thread.id, "mallory", "intruder"), None),
            AppendOp(NewMessage("g:missing", None, "nowhere"), None),
            AppendOp(NewMessage(thread.id, "bob", "two"), None),
        ],
    )
    assert [type(r) for r in results] == [Appended, NotAMember, ThreadNotFound, Appended]
    assert [m.body for m in sqlite_ops.history(conn, thread.id, None, 10).messages] == [
        "one",
        "two",
    ]


def test_same_cid_twice_in_one_batch_is_one_message(conn: sqlite3.Connection) -> None:
    thread = sqlite_ops.ensure_dm(conn, "alice", "bob")
    first, second = commit_batch(
        conn,
        [
            AppendOp(NewMessage(thread.id, "alice", "hi", cid="c1"), None),
            AppendOp(NewMessage(thread.id, "alice", "hi", cid="c1"), None),
        ],
    )
    assert isinstance(first, Appended) and isinstance(second, Appended)
    assert second.duplicate and second.message == first.message
    assert sqlite_ops.head(conn) == first.message.pos


def test_thread_keeps_its_last_seq_and_pos(conn: sqlite3.Connection) -> None:
    thread = sqlite_ops.ensure_dm(conn, "alice", "bob")
    results = commit_batch(
        conn, [AppendOp(NewMessage(thread.id, "alice", f"m{i}"), None) for i in range(3)]
    )
    last = results[-1]
    assert isinstance(last, Appended)
    row = conn.execute("SELECT last_seq, last_pos FROM threads WHERE id = ?", (thread.id,))
    assert row.fetchone() == (3, last.message.pos)


def test_a_write_that_fails_is_undone_alone(conn: sqlite3.Connection) -> None:
    def half_done(connection: sqlite3.Connection) -> None:
        sqlite_ops.ensure_dm(connection, "carol", "dave")
        raise StoreError("changed my mind")

    results = commit_batch(
        conn,
        [
            CallOp(sqlite_ops.ensure_dm, ("alice", "bob")),
            CallOp(half_done, ()),
            CallOp(sqlite_ops.ensure_dm, ("alice", "erin")),
        ],
    )
    assert isinstance(results[1], StoreError)
    assert sqlite_ops.get_thread(conn, dm_thread_id("carol", "dave")) is None
    assert sqlite_ops.get_thread(conn, dm_thread_id("alice", "erin")) is not None


def test_writes_in_one_batch_see_the_appends_before_them(conn: sqlite3.Connection) -> None:
    group = sqlite_groups.open_group(conn, None, ["alice"], None, 0).thread
    results = commit_batch(
        conn,
        [
            AppendOp(NewMessage(group.id, "alice", "one"), None),
            CallOp(sqlite_ops.mark_read, (group.id, "alice", 99)),
            CallOp(sqlite_groups.change_group,
                   (GroupChange(group.id, None, 0, add=("bob",)),)),
            AppendOp(NewMessage(group.id, "bob", "two"), None),
        ],
    )
    assert results[1] == 2  # clamped to the seq the append before it took
    last = results[3]
    assert isinstance(last, Appended) and last.message.seq == 4


def test_system_message_cid_is_unique_in_the_schema(conn: sqlite3.Connection) -> None:
    group = sqlite_groups.open_group(conn, None, ["alice"], None, 0).thread
    insert = (
        "INSERT INTO messages (thread, seq, sender, cid, body, ts) VALUES (?, ?, NULL, ?, '', 0)"
    )
    conn.execute(insert, (group.id, 2, "c1"))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, (group.id, 3, "c1"))


def test_cid_lookup_uses_the_unique_index(conn: sqlite3.Connection) -> None:
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT pos FROM messages"
        " WHERE thread = ? AND COALESCE(sender, '') = ? AND cid = ?",
        ("t", "alice", "c1"),
    ).fetchall()
    assert "messages_by_cid" in " ".join(str(step) for step in plan)


async def test_database_error_fails_the_whole_batch(store: SqliteStore, db_path: str) -> None:
    thread = await store.ensure_dm("alice", "bob")
    with sqlite3.connect(db_path) as other:
        other.execute(
            "CREATE TRIGGER refuse AFTER INSERT ON messages WHEN new.body = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    # Queued in the same turn of the loop, so they share one batch.
    results = await asyncio.gather(
        store.append(NewMessage(thread.id, "alice", "fine")),
        store.append(NewMessage(thread.id, "alice", "boom")),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    after = await store.append(NewMessage(thread.id, "alice", "fine again"))
    assert after.message.seq == 1  # the failed batch left no trace


@pytest.mark.parametrize("batch_window", [0.0, 0.002])
async def test_every_batch_size_commits_everything(db_path: str, batch_window: float) -> None:
    store = SqliteStore(db_path, batch_max=3, batch_window=batch_window)
    await store.open()
    try:
        thread = await store.ensure_dm("alice", "bob")
        results = await asyncio.gather(
            *(store.append(NewMessage(thread.id, "alice", f"m{i}")) for i in range(20))
        )
        assert sorted(r.message.seq for r in results) == list(range(1, 21))
    finally:
        await store.close()


async def test_a_cancelled_append_does_not_stop_the_others(store: SqliteStore) -> None:
    thread = await store.ensure_dm("alice", "bob")
    doomed = asyncio.create_task(store.append(NewMessage(thread.id, "alice", "never mind")))
    kept = asyncio.create_task(store.append(NewMessage(thread.id, "alice", "kept")))
    await asyncio.sleep(0)  # both are queued
    doomed.cancel()
    appended = await kept
    assert appended.message.body == "kept"
    assert doomed.cancelled()


def test_a_history_page_costs_the_same_queries_however_many_changes(db_path: str) -> None:
    """Folded state is read in a fixed number of statements: none per edit or reaction."""
    from realtime.store.base import NewChange

    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite_ops.connect(db_path, synchronous="NORMAL")
    apply_migrations(conn)
    plain = sqlite_ops.ensure_dm(conn, "alice", "bob").id
    busy = sqlite_ops.ensure_dm(conn, "alice", "carol").id
    for thread in (plain, busy):
        commit_batch(conn, [AppendOp(NewMessage(thread, "alice", f"m{i}", ts=1), None)
                            for i in range(10)])
    changes = [NewChange(busy, user, "react", seq, 2, emoji=emoji)
               for seq in range(1, 11) for user in ("alice", "carol") for emoji in "abc"]
    changes += [NewChange(busy, "alice", "edit", seq, 3, body=f"edited {seq}")
                for seq in range(1, 11)]
    commit_batch(conn, [CallOp(sqlite_ops.change, (change,)) for change in changes])

    def statements(thread: str) -> list[str]:
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        try:
            page = sqlite_ops.history(conn, thread, None, 10)
        finally:
            conn.set_trace_callback(None)
        assert len(page.messages) == 10
        return seen

    assert len(statements(busy)) == len(statements(plain))
    page = sqlite_ops.history(conn, busy, None, 10)
    assert page.messages[0].reactions == {"a": ["alice", "carol"], "b": ["alice", "carol"],
                                          "c": ["alice", "carol"]}
    conn.close()
