"""Versioned schema migrations of the SQLite store.

Migrations are the files ``realtime/store/migrations/sqlite/NNNN_name.sql``, applied in
order of ``NNNN``. The ``schema_version`` table records each one applied. Applying is
idempotent and safe against a second process doing the same: the version is read and
the pending files run inside one ``BEGIN IMMEDIATE`` transaction, which holds the write
lock throughout.

These functions are blocking: call them from the thread that owns the connection.
"""

from __future__ import annotations

import sqlite3

from realtime.store.migration_files import Migration, bundled


def bundled_migrations() -> list[Migration]:
    """The sqlite migrations shipped with the package, in ascending version."""
    return bundled("sqlite")


def schema_version(conn: sqlite3.Connection) -> int:
    """The newest applied migration's version (0 for a fresh database)."""
    if not _has_version_table(conn):
        return 0
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(version)


def apply_migrations(
    conn: sqlite3.Connection, migrations: list[Migration] | None = None
) -> list[int]:
    """Bring the schema up to date in one transaction; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``). On any error the
    transaction is rolled back and the schema is left as it was.
    """
    pending_all = bundled_migrations() if migrations is None else migrations
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        current = schema_version(conn)
        applied = []
        for migration in pending_all:
            if migration.version <= current:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def _has_version_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    return row is not None


def _statements(script: str) -> list[str]:
    # executescript() would commit the surrounding transaction, so the script is split
    # into complete statements (sqlite3.complete_statement understands trigger bodies).
    statements = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _strip_comments(buffer):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer!r}")
    return statements


def _strip_comments(text: str) -> str:
    return "\n".join(
        line for line in text.splitlines() if line.strip() and not line.strip().startswith("--")
    ).strip()
