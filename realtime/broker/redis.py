"""The Redis broker: classic pub/sub on one Redis server, or sharded pub/sub on a cluster.

``RedisBroker(url)`` picks the engine when it starts: a ``redis+cluster://`` (or
``rediss+cluster://``) URL, or a plain URL whose server reports ``cluster_enabled:1``,
selects Redis Cluster (:mod:`realtime.broker.redis_cluster`); anything else is one server.

Either way a node holds one pub/sub connection per Redis server it reads from (one, or one
per cluster primary), each read by exactly one task, and a separate client for publishing.
A node subscribes only the channels its sessions need, so a publication costs one delivery
per subscribed node: cost grows with recipients, not with the size of the cluster.

Pub/sub is lossy. When a pub/sub connection drops, it is rebuilt with backoff and every
channel wanted *at that moment* is subscribed again; then the handler's ``broker_reset``
is called once for the outage, and the node catches up from the store.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from functools import partial
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from presence.redis_connection import close_within, single_server, url_address
from realtime.broker.base import Broker, BrokerHandler, BrokerUnavailable
from realtime.broker.redis_pipeline import PublishPipeline
from realtime.broker.redis_pubsub import PubSubConnection

log = logging.getLogger(__name__)


CONNECT_TIMEOUT = 2.0
"""Seconds to open a TCP connection to Redis."""

COMMAND_TIMEOUT = 5.0
"""Seconds a publish or ping may wait for Redis before it counts as unavailable."""

PUBLISH_DEADLINE = 1.0
"""Seconds a publication may wait for Redis by default (the ``publish_deadline`` setting)."""

PUBLISH_CONNECTIONS = 50
"""Connections a node publishes on at most. Publishes past them wait for one (up to
``COMMAND_TIMEOUT``): redis-py's default pool raises "Too many connections" instead, and
under load the node dropped publications that way."""

UnavailableErrors = (RedisError, RedisClusterException, OSError, TimeoutError)
"""What redis-py raises when a server cannot be reached or cannot serve."""


def publisher_retry() -> Retry:
    """One quick retry: a pooled connection may be stale after a restart; more would
    only delay the sender's ack while Redis is really down."""
    return Retry(ExponentialBackoff(cap=0.1, base=0.01), 1)


def subscriber_retry() -> Retry:
    """No retry inside redis-py: :class:`PubSubConnection` reconnects with its own backoff."""
    return Retry(NoBackoff(), 0)


class RedisEngine(Protocol):
    """A way of talking to Redis: one server, or a cluster."""

    @property
    def connections(self) -> Sequence[PubSubConnection]:
        """Its pub/sub connections (one per server it subscribes on)."""
        ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channels: Sequence[str], data: bytes) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class PubSubEvents(Protocol):
    """What a pub/sub connection reports to the broker."""

    def message(self, channel: str, data: bytes) -> None: ...

    def down(self, connection: str) -> None: ...

    def up(self, connection: str) -> None: ...


class SingleRedis:
    """One Redis server: ``PUBLISH`` in shared pipelines, ``SUBSCRIBE`` on one connection."""

    def __init__(self, publisher: aioredis.Redis, url: str, name: str, events: PubSubEvents,
                 *, publish_deadline: float = 0.0):
        self._publisher = publisher
        self._pipeline = PublishPipeline(publisher, deadline=publish_deadline)
        subscriber = aioredis.Redis.from_url(
            url,
            retry=subscriber_retry(),
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            client_name=f"{name}:sub",
        )
        self.connection = PubSubConnection(
            subscriber,
            name=url_address(url),
            sharded=False,
            on_message=events.message,
            on_down=lambda: events.down(self.connection.name),
            on_up=lambda: events.up(self.connection.name),
        )
        self.connections = [self.connection]

    async def subscribe(self, channel: str) -> None:
        await self.connection.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self.connection.unsubscribe(channel)

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        await self._pipeline.publish(channels, data)

    async def ping(self) -> None:
        await self._publisher.ping()

    async def close(self) -> None:
        await self._pipeline.close()
        await self.connection.close()
        await close_within(self._publisher.aclose(), "redis publisher")


class RedisBroker(Broker):
    """Publish/subscribe between nodes through Redis or Redis Cluster.

    Counters for the metrics module, read as plain attributes: ``publishes`` (channel
    publications sent), ``publish_errors`` (failed :meth:`publish` calls), ``reconnects``
    (outages recovered from); and gauges: ``subscriptions`` (channels currently wanted),
    ``connections_down`` (pub/sub connections lost right now).
    """

    def __init__(self, url: str, *, node_id: str | None = None,
                 publish_deadline: float = PUBLISH_DEADLINE) -> None:
        self.url = url
        self.publish_deadline = publish_deadline
        """Seconds a publication to one Redis server may take before it counts as failed
        (0: redis-py's own timeouts only)."""
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}"
        self.publishes = 0
        self.publish_errors = 0
        self.reconnects = 0
        self._handler: BrokerHandler | None = None
        self._engine: RedisEngine | None = None
        # Connections lost and not yet back. One outage may span several cluster
        # primaries: the handler hears about it once, when the last one is back.
        self._down: set[str] = set()
        self._closed = False

    @property
    def subscriptions(self) -> int:
        """How many channels this node currently wants."""
        engine = self._engine
        return 0 if engine is None else sum(len(c.wanted) for c in engine.connections)

    @property
    def connections_down(self) -> int:
        """How many pub/sub connections are lost right now (0 when all is well)."""
        return len(self._down)

    @property
    def cluster(self) -> bool:
        """Whether the broker runs on a Redis Cluster (known once started)."""
        return self._engine is not None and not isinstance(self._engine, SingleRedis)

    async def start(self, handler: BrokerHandler) -> None:
        """Connect every pub/sub connection and the publishing client.

        Raises :class:`BrokerUnavailable` if Redis cannot be reached now.
        """
        if self._engine is not None or self._closed:
            raise RuntimeError("a RedisBroker starts once")
        self._handler = handler
        try:
            engine = await open_engine(self.url, f"rt-{self.node_id}", self,
                                       publish_deadline=self.publish_deadline)
        except UnavailableErrors as exc:
            raise BrokerUnavailable(f"cannot connect to {url_address(self.url)}: {exc}") from exc
        self._engine = engine

    async def close(self) -> None:
        """Stop every reader task and close every connection. Idempotent."""
        self._closed = True
        engine, self._engine = self._engine, None
        self._handler = None
        if engine is not None:
            await engine.close()

    async def subscribe(self, channel: str) -> None:
        """Returns once the server confirmed the subscription (at once during an outage:
        the channel is subscribed when Redis is back, before ``broker_reset``)."""
        if self._engine is not None:
            await self._engine.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        if self._engine is not None:
            await self._engine.unsubscribe(channel)

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        if not channels:
            return
        engine = self._engine
        if engine is None:
            raise BrokerUnavailable("the broker is not running")
        try:
            await engine.publish(channels, data)
        except UnavailableErrors as exc:
            self.publish_errors += 1
            raise BrokerUnavailable(f"publish failed: {exc}") from exc
        self.publishes += len(channels)

    async def ping(self) -> None:
        engine = self._engine
        if engine is None:
            raise BrokerUnavailable("the broker is not running")
        try:
            await engine.ping()
        except UnavailableErrors as exc:
            raise BrokerUnavailable(f"ping failed: {exc}") from exc

    # -- events of the pub/sub connections (on their reader tasks) -------------------

    def message(self, channel: str, data: bytes) -> None:
        handler = self._handler
        if handler is not None:
            handler.publication(channel, data)

    def down(self, connection: str) -> None:
        self._down.add(connection)

    def up(self, connection: str) -> None:
        self._down.discard(connection)
        if self._down:
            return  # the outage goes on elsewhere: one reset when it is over
        self.reconnects += 1
        handler = self._handler
        if handler is not None:
            handler.broker_reset()


async def open_engine(url: str, name: str, events: PubSubEvents, *,
                      publish_deadline: float = 0.0) -> RedisEngine:
    """Connect to what ``url`` names, one server or a cluster (see
    :mod:`presence.redis_connection`); raise if unreachable."""
    url, publisher = await single_server(url, partial(_publisher, name=name))
    if publisher is None:
        return await _open_cluster(url, name, events, publish_deadline=publish_deadline)
    engine = SingleRedis(publisher, url, name, events, publish_deadline=publish_deadline)
    try:
        await engine.connection.start()
    except BaseException:
        await engine.close()
        raise
    return engine


def _publisher(url: str, *, name: str) -> aioredis.Redis:
    return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=PUBLISH_CONNECTIONS,
        timeout=COMMAND_TIMEOUT,
        retry=publisher_retry(),
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
        client_name=name,
    ))


async def _open_cluster(url: str, name: str, events: PubSubEvents, *,
                        publish_deadline: float = 0.0) -> RedisEngine:
    # Imported here: a single-server deployment never loads the cluster client.
    from realtime.broker.redis_cluster import ClusterRedis

    return await ClusterRedis.open(url, name, events, publish_deadline=publish_deadline)
