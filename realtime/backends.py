"""The backends a node's settings name, made in one place: store, broker, presence,
node directory and push outbox. With :mod:`realtime.cli`, the only module that names
concrete backends (see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

from presence.memory import MemoryPresence
from presence.presence import Presence
from push.outbox import Outbox
from realtime.broker.base import Broker
from realtime.broker.memory import MemoryBroker
from realtime.config import Config
from realtime.directory.base import Directory
from realtime.directory.memory import MemoryDirectory
from realtime.store.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def database_of(config: Config) -> str | Path:
    """The database ``config.database_url`` names: a PostgreSQL URL (a ``str``), or the
    path of an SQLite file (unset: ``realtime.db`` in the data dir). The store and the
    push outbox share it."""
    url = config.database_url
    if url.startswith(POSTGRES_SCHEMES):
        return url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") or "realtime.db")
    if url:
        raise SystemExit(f"REALTIME_DATABASE_URL: unsupported scheme in {url.split(':')[0]!r}")
    return Path(config.data_dir) / "realtime.db"


def make_store(config: Config) -> Store:
    """The store ``config.database_url`` names (unset: an SQLite file in the data dir)."""
    database = database_of(config)
    if isinstance(database, str):
        from realtime.store.postgres import PostgresStore

        return PostgresStore(database, batch_window=config.commit_window)
    from realtime.store.sqlite import SqliteStore

    return SqliteStore(str(database))


def make_broker(config: Config) -> Broker:
    """The broker ``config.redis_url`` names (unset: in-process, one node)."""
    if config.redis_url:
        from realtime.broker.redis import RedisBroker

        return RedisBroker(config.redis_url, publish_deadline=config.publish_deadline)
    return MemoryBroker()


def make_presence(config: Config) -> Presence:
    """Presence shared through Redis in a cluster, in-process otherwise.

    With Redis, a session's lease lasts ``presence_ttl`` seconds and is renewed four times
    per lease; expired leases are looked for at least every 2 s. So a crashed node's users
    go offline within ``presence_ttl`` + 2 s (22 s by default, inside the 30 s promised).
    """
    if config.redis_url:
        from presence.redis import RedisPresence

        ttl = config.presence_ttl
        return RedisPresence(config.redis_url, ttl=ttl, heartbeat=ttl / 4,
                             sweep=min(2.0, ttl / 4))
    return MemoryPresence()


def make_directory(config: Config) -> Directory:
    """Where the cluster's nodes and sessions are listed: Redis in a cluster, in-process
    otherwise. A node counts as gone after missing three heartbeats."""
    ttl = 3 * config.node_heartbeat
    if config.redis_url:
        from realtime.directory.redis import RedisDirectory

        return RedisDirectory(config.redis_url, ttl=ttl)
    return MemoryDirectory(ttl=ttl)


def make_outbox(config: Config) -> Outbox:
    """The push outbox, in the store's database (see :func:`make_store`)."""
    database = database_of(config)
    if isinstance(database, str):
        from push.outbox_postgres import PostgresOutbox

        return PostgresOutbox(database)
    from push.outbox_sqlite import SqliteOutbox

    return SqliteOutbox(database)
