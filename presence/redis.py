"""Presence shared by every node through Redis, with leases so crashes clean up by themselves.

Each user has a sorted set ``rt:{p:<user>}`` of their open sessions, scored by the time
(epoch ms) their lease ends. A node renews the leases of its own sessions every
``heartbeat`` seconds; a session whose node stopped renewing (crashed) expires after
``ttl``. Every node runs a sweeper over the index ``rt:presence:leases`` (users by their
latest lease end): the node whose atomic script removes a user's last expired session
reports that user offline, so exactly one node does.

Scripts touch one key each (the user's set), so the keys may live on any shard of a
Redis Cluster; the index is only a hint, and every decision is re-checked on the user's
own set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from presence.presence import Presence, PresenceUnavailable
from presence.redis_connection import close_within, single_server

log = logging.getLogger(__name__)

INDEX = "rt:presence:leases"

KEY_TTL = 86_400.0
"""Seconds a user's set of sessions outlives its last join or renewal (or three leases,
if longer): see the comment on the scripts."""

POOL_CONNECTIONS = 50
"""Connections to Redis a node's presence uses at most; further commands wait."""
POOL_TIMEOUT = 5.0
"""Seconds a command may wait for a free connection before presence is unavailable."""

"""Seconds closing the connections may take before they are dropped."""

# The sets also expire as keys (relative, by Redis's own clock) so that nothing is left
# behind if every node stops; leases are decided by the scores alone. A set must outlive
# its leases long enough for a sweeper to see them expired: a user whose set vanished
# first would never be reported offline, and their last_seen never stored. So a set
# lives KEY_TTL past its last join or renewal: a cluster down for less than that still
# reports, once back, everyone whose node crashed.

# KEYS[1] user set; ARGV: now, lease end, session, key ttl ms. 1 when the user came online.
_JOIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if before == 0 then return 1 end
return 0
"""

# KEYS[1] user set; ARGV: now, session. Returns 1 when that was the last live session.
_LEAVE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
if removed == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
"""

# KEYS[1] user set; ARGV: now. Returns 1 when expired sessions were the user's last ones.
_EXPIRE = """
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if removed > 0 and redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
"""

# KEYS[1] user set; ARGV: lease end, session, key ttl ms. Renews a lease that still exists.
_RENEW = """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[1], ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise PresenceUnavailable(f"redis presence: {type(exc).__name__}: {exc}") from exc


def user_key(user: str) -> str:
    return f"rt:{{p:{user}}}"


class RedisPresence(Presence):
    """:class:`Presence` in Redis, shared by a cluster.

    ``on_expired(user, ts)`` is awaited when this node's sweeper finds that ``user``'s
    last session expired (its node crashed); ``ts`` is when the last lease ended.
    """

    def __init__(self, url: str, *, ttl: float = 20.0, heartbeat: float = 5.0,
                 sweep: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._url = url
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.sweep = sweep
        self._clock = clock
        self._redis: Redis | None = None
        self._local: dict[str, str] = {}  # session -> user, this node's sessions
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._redis = await connect_redis(self._url)
        self._join = self._redis.register_script(_JOIN)
        self._leave = self._redis.register_script(_LEAVE)
        self._expire = self._redis.register_script(_EXPIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="presence-heartbeat"),
            asyncio.create_task(self._sweep_loop(), name="presence-sweeper"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await close_within(redis.aclose(), "redis presence")

    async def join(self, user: str, session: str) -> bool:
        with _unavailable():
            return await self._join_user(user, session)

    async def leave(self, user: str, session: str) -> bool:
        with _unavailable():
            return await self._leave_user(user, session)

    async def online(self, users: Iterable[str]) -> set[str]:
        with _unavailable():
            return await self._online(list(users))

    async def _join_user(self, user: str, session: str) -> bool:
        redis = self._client()
        now = self._now_ms()
        end = now + int(self.ttl * 1000)
        self._local[session] = user
        came = await self._join(keys=[user_key(user)], args=[now, end, session, self._key_ttl])
        await redis.zadd(INDEX, {user: end}, gt=True)
        return bool(came == 1)

    async def _leave_user(self, user: str, session: str) -> bool:
        self._local.pop(session, None)
        went = await self._leave(keys=[user_key(user)], args=[self._now_ms(), session])
        return bool(went == 1)

    async def _online(self, users: list[str]) -> set[str]:
        if not users:
            return set()
        now = self._now_ms()
        async with self._client().pipeline(transaction=False) as pipe:
            for user in users:
                pipe.zcount(user_key(user), f"({now}", "+inf")
            counts = await pipe.execute()
        return {u for u, n in zip(users, counts, strict=True) if n}

    # -- leases ----------------------------------------------------------------------

    async def renew(self) -> None:
        """Extend the leases of this node's sessions (the heartbeat calls it)."""
        if not self._local:
            return
        end = self._now_ms() + int(self.ttl * 1000)
        redis = self._client()
        async with redis.pipeline(transaction=False) as pipe:
            for session, user in list(self._local.items()):
                await self._renew(keys=[user_key(user)], args=[end, session, self._key_ttl],
                                  client=pipe)
                pipe.zadd(INDEX, {user: end}, gt=True)
            await pipe.execute()

    async def sweep_once(self) -> list[str]:
        """Find users whose last lease ended; report each one this node expired."""
        redis = self._client()
        now = self._now_ms()
        # withscores=True: pairs of member and score (redis-py's type covers every form).
        due: list[tuple[bytes | str, float]] = await redis.zrangebyscore(  # type: ignore[assignment]
            INDEX, "-inf", now, start=0, num=500, withscores=True
        )
        expired: list[str] = []
        for raw, score in due:
            user = raw.decode() if isinstance(raw, bytes) else raw
            if await self._expire(keys=[user_key(user)], args=[now]) == 1:
                expired.append(user)
                if self.on_expired is not None:
                    await self.on_expired(user, int(score))
            # Drop the hint unless a newer lease was recorded meanwhile.
            if await redis.zscore(INDEX, user) == score:
                await redis.zrem(INDEX, user)
        return expired

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                log.warning("presence heartbeat failed: %s", exc)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep)
            try:
                await self.sweep_once()
            except (RedisError, OSError) as exc:
                log.warning("presence sweep failed: %s", exc)

    def _client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisPresence is not started")
        return self._redis

    @property
    def _key_ttl(self) -> int:
        return int(max(self.ttl * 3, KEY_TTL) * 1000)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


async def connect_redis(url: str) -> Redis:
    """A client for what ``url`` names (see :mod:`presence.redis_connection`): a cluster
    client for a cluster (the scripts are single-key, so they route by key), a plain one
    otherwise."""
    url, plain = await single_server(url, _plain)
    return _cluster(url) if plain is None else plain


def _plain(url: str) -> Redis:
    # A pool that makes callers wait for a connection: redis-py's default one raises
    # "Too many connections" past 100, which a burst of session cleanups reached.
    return Redis.from_pool(BlockingConnectionPool.from_url(
        url, max_connections=POOL_CONNECTIONS, timeout=POOL_TIMEOUT, health_check_interval=10))


def _cluster(url: str) -> Redis:
    from redis.asyncio.cluster import RedisCluster

    return RedisCluster.from_url(url)  # type: ignore[return-value]
