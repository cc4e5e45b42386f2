"""Versioned schema migrations of the PostgreSQL store.

Migrations are the files ``realtime/store/migrations/postgres/NNNN_name.sql``, applied
in order of ``NNNN``; the ``schema_version`` table records each one applied.

:func:`migrate` is what ``realtime migrate`` runs. It is idempotent and safe to run
from several nodes at once: each migration runs in its own transaction, which first
takes a transaction-scoped advisory lock, so one node applies a step while the others
wait, then find it recorded and skip it. A failed step rolls back entirely.
"""

from __future__ import annotations

import asyncpg

from realtime.store.migration_files import Migration, bundled

LOCK_KEY = 0x7274_6D69_6772_6174  # "rtmigrat": any constant that other software won't use
"""The ``pg_advisory_xact_lock`` key that serializes migrations across nodes."""


def bundled_migrations() -> list[Migration]:
    """The postgres migrations shipped with the package, in ascending version."""
    return bundled("postgres")


def latest_version() -> int:
    """The version the bundled migrations bring a database to."""
    migrations = bundled_migrations()
    return migrations[-1].version if migrations else 0


async def schema_version(conn: asyncpg.Connection) -> int:
    """The newest applied migration's version (0 for a database never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def migrate(dsn: str, migrations: list[Migration] | None = None) -> list[str]:
    """Bring the database at ``dsn`` up to date; return the names of the files applied.

    Returns an empty list when there was nothing to do (including when another node
    applied the pending steps while this call waited for the lock).
    """
    pending = bundled_migrations() if migrations is None else migrations
    applied: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        for migration in pending:
            async with conn.transaction():
                # Taken before anything else, even the CREATE TABLE IF NOT EXISTS: two
                # concurrent CREATE TABLE IF NOT EXISTS can both miss the table and
                # one then fails on a catalog unique index.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
                await conn.execute(
                    """
                    CREATE TABLE IF NOT EXISTS schema_version (
                        version    integer PRIMARY KEY,
                        name       text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """
                )
                if await schema_version(conn) >= migration.version:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
    finally:
        await conn.close()
    return applied
