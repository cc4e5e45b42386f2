"""The Redis Cluster engine of :class:`~realtime.broker.redis.RedisBroker`: sharded pub/sub.

A channel lives on the primary that owns its hash slot (channel names carry a hash tag,
see :mod:`realtime.broker.channels`). ``SPUBLISH`` reaches only the subscribers of that
shard, where classic ``PUBLISH`` would be copied to every node of the cluster.

* Publishing: one ``RedisCluster`` pipeline, which groups the ``SPUBLISH`` commands by
  primary and sends one pipeline to each, concurrently.
* Subscribing: one :class:`PubSubConnection` (``SSUBSCRIBE``) per primary, each with its
  own reader task, opened for every primary at start and for a primary that appears later.

Why not redis-py's ``ClusterPubSub``: it closes a primary's connection under a concurrent
reader when that primary's last channel is dropped, returns at once (rather than waiting)
for a primary with no subscription, and resubscribes from its own bookkeeping after a
reconnection; the broker needs one long-lived reader per primary and its own channel set.

Not handled here: a slot that moves to another primary while subscribed (resharding or
failover). Its subscribers stop hearing it until their node reconnects it; operators
restart nodes after resharding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from presence.redis_connection import close_within
from realtime.broker.redis import (
    COMMAND_TIMEOUT,
    CONNECT_TIMEOUT,
    PubSubEvents,
    publisher_retry,
    subscriber_retry,
)
from realtime.broker.redis_pubsub import PubSubConnection


class ClusterRedis:
    """A Redis Cluster: ``SPUBLISH`` grouped per primary, ``SSUBSCRIBE`` per primary."""

    def __init__(self, cluster: RedisCluster, url: str, name: str, events: PubSubEvents,
                 *, publish_deadline: float = 0.0):
        self._cluster = cluster
        self._deadline = publish_deadline
        self._late: set[asyncio.Task[None]] = set()
        """Publications past their deadline, still on their way (cancelled at close)."""
        self._url = url
        self._name = name
        self._events = events
        self._by_node: dict[str, PubSubConnection] = {}
        # The connection each channel was subscribed on, so that its unsubscribe goes
        # to the same primary even if the slot map changed in between.
        self._routes: dict[str, PubSubConnection] = {}

    @property
    def connections(self) -> Sequence[PubSubConnection]:
        return list(self._by_node.values())

    @classmethod
    async def open(cls, url: str, name: str, events: PubSubEvents, *,
                   publish_deadline: float = 0.0) -> ClusterRedis:
        """Discover the cluster and connect to every primary; raise if unreachable."""
        cluster = RedisCluster.from_url(
            url,
            retry=publisher_retry(),
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            client_name=name,
        )
        engine = cls(cluster, url, name, events, publish_deadline=publish_deadline)
        try:
            await cluster.initialize()
            for node in cluster.get_primaries():
                await engine._connection(node, connected=True)
        except BaseException:
            await engine.close()
            raise
        return engine

    async def _connection(self, node: ClusterNode, *, connected: bool = False) -> PubSubConnection:
        """The pub/sub connection to primary ``node``, opened on first use."""
        existing = self._by_node.get(node.name)
        if existing is not None:
            return existing
        client = aioredis.Redis.from_url(
            node_url(self._url, node.host, int(node.port)),
            retry=subscriber_retry(),
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            client_name=f"{self._name}:sub",
        )
        events, key = self._events, node.name
        connection = PubSubConnection(
            client,
            name=key,
            sharded=True,
            on_message=events.message,
            on_down=lambda: events.down(key),
            on_up=lambda: events.up(key),
        )
        # Registered before it connects: a concurrent subscribe to the same primary
        # finds it, and its channel is part of the first subscription.
        self._by_node[key] = connection
        try:
            await connection.start(connected=connected)
        except BaseException:
            del self._by_node[key]
            await connection.close()
            raise
        return connection

    async def subscribe(self, channel: str) -> None:
        connection = self._routes.get(channel)
        if connection is None:
            node = self._cluster.get_node_from_key(channel)
            if node is None:
                # An incomplete slot map: a connection error, retried like one.
                raise ConnectionError(f"no cluster primary serves channel {channel!r}")
            connection = await self._connection(node)
            self._routes[channel] = connection
        await connection.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        connection = self._routes.pop(channel, None)
        if connection is not None:
            await connection.unsubscribe(channel)

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        """Publish to every channel; past the publish deadline raise :class:`TimeoutError`
        while the publication goes on (a hung shard must not hold up acks)."""
        if self._deadline <= 0:
            await self._publish(channels, data)
            return
        # A task and a timer, not asyncio.timeout: a publication may be awaited outside
        # any task (an eager send's first step), where asyncio.timeout refuses to work.
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._publish(channels, data))
        done: asyncio.Future[None] = loop.create_future()
        task.add_done_callback(partial(_finished, done))
        timer = loop.call_later(self._deadline, _expire, done)
        try:
            await done
        except TimeoutError:
            self._late.add(task)
            task.add_done_callback(_forget_late(self._late))
            raise
        finally:
            timer.cancel()
        task.result()

    async def _publish(self, channels: Sequence[str], data: bytes) -> None:
        async with self._cluster.pipeline() as pipe:
            for channel in channels:
                pipe.spublish(channel, data)
            await pipe.execute()

    async def ping(self) -> None:
        await self._cluster.ping(target_nodes=RedisCluster.PRIMARIES)

    async def close(self) -> None:
        for task in list(self._late):
            task.cancel()
        connections = list(self._by_node.values())
        self._by_node.clear()
        self._routes.clear()
        await asyncio.gather(*(connection.close() for connection in connections))
        await close_within(self._cluster.aclose(), "redis cluster publisher")


def node_url(url: str, host: str, port: int) -> str:
    """``url`` (credentials, TLS, options) pointed at one node, ``host:port``."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _finished(done: asyncio.Future[None], _task: asyncio.Task[None]) -> None:
    if not done.done():
        done.set_result(None)


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(TimeoutError("Redis did not answer within the publish deadline"))


def _forget_late(late: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def forget(task: asyncio.Task[None]) -> None:
        late.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure is already counted as one
    return forget
