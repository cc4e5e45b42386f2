"""The ``store`` fixture: every contract test runs once per Store backend.

Each backend is a factory that, given the test's ``request`` and ``tmp_path``, returns a
:class:`StoreLocation`: something that builds unopened stores on one fresh, empty
location. A test that needs to close and reopen a store (durability) asks for
``store_location`` and calls ``build()`` twice; every other test takes ``store``.

To add a backend: write its factory below and name it in ``BACKENDS``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from realtime.store.base import Store
from realtime.store.sqlite import SqliteStore


@dataclass(frozen=True)
class StoreLocation:
    """Where a backend keeps its data, and how to build a store on it."""

    name: str
    build: Callable[[], Store]
    """A new, unopened store on this location; calling it again reopens the same data."""


def sqlite_location(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    path = str(tmp_path / "store" / "realtime.sqlite3")
    return StoreLocation("sqlite", lambda: SqliteStore(path))


def postgres_location(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    try:
        module = importlib.import_module("realtime.store.postgres")
    except ModuleNotFoundError:
        pytest.skip("realtime.store.postgres does not exist yet")
    # A fresh, empty database per test; dropped when the test ends. A cluster runs
    # `realtime migrate` once; here each store applies the schema as it opens.
    dsn = request.getfixturevalue("postgres_dsn")
    return StoreLocation("postgres", lambda: module.PostgresStore(dsn, migrate=True))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], StoreLocation]] = {
    "sqlite": sqlite_location,
    "postgres": postgres_location,
}


@pytest.fixture(params=list(BACKENDS))
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    """A fresh, empty location of each backend in turn."""
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
async def store(store_location: StoreLocation) -> AsyncIterator[Store]:
    """An open store on a fresh location, closed after the test."""
    opened = store_location.build()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
