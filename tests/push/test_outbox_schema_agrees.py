"""The outbox's tables are written twice on purpose: by the outbox itself (push/ stands
alone and may run on a database of its own) and by the store's migrations (so that a
message's commit can record its push). The two must say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from push import outbox_postgres, outbox_sqlite

MIGRATIONS = Path(__file__).resolve().parents[2] / "realtime" / "store" / "migrations"


def statements(sql: str) -> list[str]:
    """The SQL statements of ``sql``, without comments, whitespace normalised."""
    code = re.sub(r"--[^\n]*", "", sql)
    return [" ".join(s.split()) for s in code.split(";") if s.strip()]


@pytest.mark.parametrize(("schema", "migration"), [
    (outbox_sqlite.SCHEMA, "sqlite/0004_push_outbox.sql"),
    (outbox_postgres.SCHEMA, "postgres/0007_push_outbox.sql"),
])
def test_the_outboxs_own_schema_is_the_migrations(schema: str, migration: str) -> None:
    assert statements(schema) == statements((MIGRATIONS / migration).read_text())
