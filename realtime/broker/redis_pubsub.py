"""One pub/sub connection to one Redis server: its reader task, its channels, its outages.

:class:`PubSubConnection` keeps the set of channels the node wants itself, rather than
trusting redis-py's resubscription on reconnect: after an outage it opens a fresh
connection and subscribes exactly what is wanted *then*, so a channel dropped while the
server was away stays dropped. Commands go through redis-py's ``PubSub.execute_command``,
which leaves redis-py's own channel bookkeeping empty and its reconnect hook idle.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import NoReturn

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from presence.redis_connection import CLOSE_TIMEOUT, cancel_and_wait, close_within

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 5.0
"""Seconds :meth:`PubSubConnection.subscribe` waits for the server's confirmation."""

HEALTH_INTERVAL = 10.0
"""Seconds of silence after which the reader pings; a second silence means a dead link."""

RESUBSCRIBE_BATCH = 500
"""Channels per ``SUBSCRIBE`` when a connection is rebuilt (sharded: one per command)."""

RETRY_FIRST, RETRY_MAX = 0.05, 2.0
"""Reconnection backoff, in seconds: doubles from the first delay up to the maximum."""

LOG_EVERY = 30.0
"""Seconds between repeated warnings about the same outage."""

ConnectionErrors = (RedisError, OSError)



def retry_delay(attempt: int) -> float:
    """The pause before reconnection ``attempt`` (1-based), with jitter against herds."""
    delay = min(RETRY_MAX, RETRY_FIRST * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)


class PubSubConnection:
    """Subscriptions on one Redis server, read by exactly one task.

    ``sharded`` selects ``SSUBSCRIBE``/``SUNSUBSCRIBE`` (a Redis Cluster primary) over
    ``SUBSCRIBE``/``UNSUBSCRIBE``. The callbacks run on the reader task and must not block:
    ``on_message(channel, data)`` for each publication, ``on_down()`` once when the
    connection is lost, ``on_up()`` once when it is back with every wanted channel
    confirmed.

    :meth:`subscribe` and :meth:`unsubscribe` may be called from any task at any time;
    commands are written under one lock, so the server sees them in call order.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        name: str,
        sharded: bool,
        on_message: Callable[[str, bytes], None],
        on_down: Callable[[], None],
        on_up: Callable[[], None],
    ) -> None:
        self.name = name
        self._client = client
        self._sharded = sharded
        self._subscribe_command = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self._unsubscribe_command = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._confirmation = "ssubscribe" if sharded else "subscribe"
        self._confirmations = {self._confirmation, "sunsubscribe" if sharded else "unsubscribe"}
        self._publication = "smessage" if sharded else "message"
        self._on_message = on_message
        self._on_down = on_down
        self._on_up = on_up
        self.wanted: set[str] = set()
        """The channels this node wants from this server, whether or not it is reachable."""
        self._pubsub: PubSub | None = None  # None while the server is unreachable
        self._lock = asyncio.Lock()
        # Futures of (UN)SUBSCRIBE commands written and not yet confirmed, per channel, in
        # the order they were written: the server confirms each, in that order too.
        self._pending: dict[str, collections.deque[asyncio.Future[None]]] = {}
        # The confirmation a concurrent subscribe of the same channel waits for.
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, *, connected: bool = True) -> None:
        """Start the reader task.

        With ``connected`` (the default), connect first and raise a Redis or OS error if
        the server is unreachable. Without, a failed first connection is an outage: the
        reader reports ``on_down`` and keeps trying.
        """
        try:
            pubsub: PubSub | None = await self._open()
        except ConnectionErrors:
            if connected:
                raise
            pubsub = None
        self._task = asyncio.create_task(self._run(pubsub), name=f"redis-pubsub {self.name}")

    async def close(self) -> None:
        """Cancel and await the reader, release the connection. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task, f"redis pub/sub {self.name} reader")
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _discard(pubsub)
        self._release_waiters()
        await close_within(self._client.aclose(), f"redis pub/sub {self.name}")

    # -- subscriptions ---------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Want ``channel``; return once the server confirmed it, or at once while it is
        unreachable (the channel is then subscribed when the connection is back)."""
        if channel in self.wanted:
            in_flight = self._in_flight.get(channel)
            if in_flight is not None:  # another task's subscribe: its confirmation is ours
                await _wait_confirmed(in_flight, channel)
            return
        self.wanted.add(channel)
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[channel] = confirmed
        try:
            if await self._send(self._subscribe_command, channel, confirmed):
                await _wait_confirmed(confirmed, channel)
        finally:
            if not confirmed.done():
                confirmed.set_result(None)
            if self._in_flight.get(channel) is confirmed:
                del self._in_flight[channel]

    async def unsubscribe(self, channel: str) -> None:
        """Stop wanting ``channel``; return once the server confirmed it (at once while it
        is unreachable: the next connection does not subscribe it)."""
        if channel not in self.wanted:
            return
        self.wanted.discard(channel)
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if await self._send(self._unsubscribe_command, channel, confirmed):
            await _wait_confirmed(confirmed, channel)

    async def _send(self, command: str, channel: str, confirmed: asyncio.Future[None]) -> bool:
        """Write ``command channel``; whether its confirmation is then to be awaited."""
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return False
            queue = self._pending.setdefault(channel, collections.deque())
            queue.append(confirmed)
            try:
                await pubsub.execute_command(command, channel)
            except ConnectionErrors:
                # The reader sees the same failure, reconnects and subscribes `wanted`.
                _drop(queue, confirmed)
                return False
            return True

    # -- the reader ------------------------------------------------------------------

    async def _run(self, pubsub: PubSub | None) -> None:
        failure: BaseException = ConnectionError("unreachable at start")
        while True:
            if pubsub is not None:
                try:
                    await self._read(pubsub)
                except ConnectionErrors as exc:
                    failure = exc
                except Exception as exc:
                    # Not a network failure, but the connection's state is unknown: rebuild.
                    log.exception("redis pub/sub %s reader failed", self.name)
                    failure = exc
                self._pubsub = None
                self._release_waiters()
                await _discard(pubsub)
            self._on_down()
            pubsub = await self._reconnect(failure)
            self._on_up()

    async def _read(self, pubsub: PubSub) -> NoReturn:
        """Deliver publications until the connection fails (raises)."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=HEALTH_INTERVAL)
            if message is None:
                # Silence: a PING proves the link; silence after it means it is dead.
                if pinged:
                    raise ConnectionError(f"no answer to PING in {HEALTH_INTERVAL} s")
                async with self._lock:
                    await pubsub.execute_command("PING")
                pinged = True
                continue
            pinged = False
            self._dispatch(message)

    def _dispatch(self, message: dict[str, object]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if kind == self._publication:
            data = message["data"]
            if isinstance(data, bytes) and isinstance(channel, str):
                try:
                    self._on_message(channel, data)
                except Exception:
                    # A bug in the handler must not stop delivery on this node.
                    log.exception("publication handler failed on %s", channel)
        elif kind in self._confirmations and isinstance(channel, str):
            queue = self._pending.get(channel)
            if queue:
                confirmed = queue.popleft()
                if not queue:
                    del self._pending[channel]
                if not confirmed.done():
                    confirmed.set_result(None)

    async def _reconnect(self, failure: BaseException) -> PubSub:
        """Open a new connection with backoff until one works; log a bounded amount."""
        log.warning("redis pub/sub %s lost: %s; reconnecting", self.name, failure)
        started = last_log = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(retry_delay(attempt))
            try:
                pubsub = await self._open()
            except ConnectionErrors as exc:
                now = time.monotonic()
                if now - last_log >= LOG_EVERY:
                    last_log = now
                    log.warning(
                        "redis pub/sub %s still unreachable after %d attempts: %s",
                        self.name, attempt, exc,
                    )  # fmt: skip
                continue
            log.info(
                "redis pub/sub %s back after %.1f s (%d attempts), %d channels",
                self.name, time.monotonic() - started, attempt, len(self.wanted),
            )  # fmt: skip
            return pubsub

    async def _open(self) -> PubSub:
        """A new connection on which every wanted channel is confirmed; it becomes current.

        Holds the lock throughout, so no other task writes to the connection until the
        resubscription is complete and every confirmation read here is ours.
        """
        async with self._lock:
            pubsub = self._client.pubsub()
            try:
                await pubsub.connect()
                channels = sorted(self.wanted)
                for batch in _batches(channels, 1 if self._sharded else RESUBSCRIBE_BATCH):
                    await pubsub.execute_command(self._subscribe_command, *batch)
                awaited = set(channels)
                while awaited:
                    message = await pubsub.get_message(timeout=CONFIRM_TIMEOUT)
                    if message is None:
                        raise ConnectionError("no subscription confirmation in time")
                    self._dispatch(message)
                    if message["type"] == self._confirmation:
                        channel = message["channel"]
                        awaited.discard(channel.decode() if isinstance(channel, bytes) else "")
            except BaseException:
                await _discard(pubsub)
                raise
            self._pubsub = pubsub
            return pubsub

    def _release_waiters(self) -> None:
        # Subscribers waiting on a dead connection return; `wanted` still holds their
        # channels, and the next connection subscribes them.
        for queue in self._pending.values():
            for confirmed in queue:
                if not confirmed.done():
                    confirmed.set_result(None)
        self._pending.clear()


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _drop(queue: collections.deque[asyncio.Future[None]], item: asyncio.Future[None]) -> None:
    try:
        queue.remove(item)
    except ValueError:
        pass


async def _wait_confirmed(confirmed: asyncio.Future[None], channel: str) -> None:
    try:
        async with asyncio.timeout(CONFIRM_TIMEOUT):
            await asyncio.shield(confirmed)
    except TimeoutError:
        log.warning("no confirmation of the subscription to %s yet", channel)


async def _discard(pubsub: PubSub) -> None:
    # redis-py's PubSub.aclose() can wait forever for its socket to close
    # (redis/redis-py#3941, seen here as a close that hung after a Redis restart):
    # bounded, and past the bound the socket is dropped without waiting.
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await pubsub.aclose()
    except TimeoutError:
        connection = pubsub.connection
        if connection is not None:
            try:
                await connection.disconnect(nowait=True)
            except ConnectionErrors:
                pass
    except ConnectionErrors:
        pass  # the connection is being thrown away anyway
