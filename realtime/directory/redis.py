"""The directory of a cluster, kept in Redis (or a Redis Cluster).

Keys (one hash each, so every command touches one key and any shard can hold it):

- ``rt:nodes``: node id -> its last :class:`NodeRecord` as JSON;
- ``rt:sessions:<user>``: session id -> :class:`SessionRecord` as JSON.

A crashed node leaves its record and its sessions behind; readers skip a record whose
heartbeat is older than ``ttl`` and delete it, and skip sessions of nodes not alive
(deleting those too), so nothing stale is ever shown and nothing accumulates for long.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from presence.redis import connect_redis
from presence.redis_connection import close_within
from realtime.directory.base import (
    Directory,
    DirectoryUnavailable,
    NodeRecord,
    SessionRecord,
    alive,
)

log = logging.getLogger(__name__)

NODES_KEY = "rt:nodes"

# A user's hash outlives a quiet spell, not forever: renewed on every session opened.
_SESSIONS_TTL_MS = 7 * 24 * 3600 * 1000


def sessions_key(user: str) -> str:
    return f"rt:sessions:{user}"


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise DirectoryUnavailable(str(exc) or type(exc).__name__) from exc


class RedisDirectory(Directory):
    """Nodes and sessions of the cluster in Redis."""

    def __init__(self, url: str, *, ttl: float = 15.0) -> None:
        self._url = url
        self._ttl = ttl
        self._redis: Redis | None = None

    async def start(self) -> None:
        with _unavailable():
            self._redis = await connect_redis(self._url)

    async def close(self) -> None:
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await close_within(redis.aclose(), "redis directory")

    def _client(self) -> Redis:
        if self._redis is None:
            raise DirectoryUnavailable("not started")
        return self._redis

    async def publish(self, record: NodeRecord) -> None:
        with _unavailable():
            await self._client().hset(NODES_KEY, record.node, msgspec.json.encode(record))

    async def leave(self, node: str) -> None:
        with _unavailable():
            await self._client().hdel(NODES_KEY, node)

    async def nodes(self, now: int) -> list[NodeRecord]:
        with _unavailable():
            raw = await self._client().hgetall(NODES_KEY)
        live: list[NodeRecord] = []
        gone: list[bytes | str] = []
        for field, value in raw.items():
            try:
                record = msgspec.json.decode(value, type=NodeRecord)
            except msgspec.DecodeError:
                gone.append(field)
                continue
            if alive(record, now, self._ttl):
                live.append(record)
            else:
                gone.append(field)
        if gone:
            with _unavailable():
                await self._client().hdel(NODES_KEY, *gone)
        return sorted(live, key=lambda r: r.node)

    async def update(self, opened: Sequence[tuple[str, SessionRecord]],
                     closed: Sequence[tuple[str, str]]) -> None:
        if not opened and not closed:
            return
        with _unavailable():
            async with self._client().pipeline(transaction=False) as pipe:
                for user, record in opened:
                    key = sessions_key(user)
                    pipe.hset(key, record.session, msgspec.json.encode(record))
                    pipe.pexpire(key, _SESSIONS_TTL_MS)
                for user, session in closed:
                    pipe.hdel(sessions_key(user), session)
                await pipe.execute()

    async def sessions(self, user: str, now: int) -> list[SessionRecord]:
        live = {r.node for r in await self.nodes(now)}
        key = sessions_key(user)
        with _unavailable():
            raw = await self._client().hgetall(key)
        found: list[SessionRecord] = []
        stale: list[bytes | str] = []
        for field, value in raw.items():
            try:
                record = msgspec.json.decode(value, type=SessionRecord)
            except msgspec.DecodeError:
                stale.append(field)
                continue
            if record.node in live:
                found.append(record)
            else:
                stale.append(field)
        if stale:
            with _unavailable():
                await self._client().hdel(key, *stale)
        return sorted(found, key=lambda s: (s.connected, s.session))
