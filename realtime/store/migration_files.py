"""The schema migrations shipped with the package: ``migrations/<dialect>/NNNN_name.sql``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version number, file name and SQL text."""

    version: int
    name: str
    sql: str


def bundled(dialect: str) -> list[Migration]:
    """The migrations of ``dialect`` ("sqlite" or "postgres"), in ascending version."""
    folder = resources.files("realtime.store").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {dialect} migrations share a version: {versions}")
    return found
