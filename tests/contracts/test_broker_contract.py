"""The `Broker` contract, run against every implementation: in-process, Redis, Redis Cluster.

Publications arrive asynchronously over Redis, so a test that checks something did *not*
arrive publishes a marker after it to a channel of the same hash slot (same shard, same
connection): once the marker is in, anything published before it would have been too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from realtime.broker.base import Broker
from realtime.broker.memory import MemoryBroker
from realtime.broker.redis import RedisBroker

BrokerFactory = Callable[[], Awaitable[tuple[Broker, "Recorder"]]]


class Recorder:
    """A broker handler that queues what it is given."""

    def __init__(self) -> None:
        self.publications: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.resets = 0

    def publication(self, channel: str, data: bytes) -> None:
        self.publications.put_nowait((channel, data))

    def broker_reset(self) -> None:
        self.resets += 1

    async def next(self) -> tuple[str, bytes]:
        """The next publication; the test's timeout bounds the wait."""
        return await self.publications.get()

    async def take(self, count: int) -> list[tuple[str, bytes]]:
        return [await self.next() for _ in range(count)]


def channel(name: str, shard: str = "s") -> str:
    """A channel in hash slot ``shard`` (channels of one shard keep their relative order)."""
    return f"test:{{{shard}}}:{name}"


def make_broker(kind: str, request: pytest.FixtureRequest) -> Broker:
    if kind == "memory":
        return MemoryBroker()
    if kind == "redis":
        return RedisBroker(request.getfixturevalue("redis_url"))
    return RedisBroker(request.getfixturevalue("redis_cluster").url)


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def brokers(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """Makes started brokers of one kind, each with its recorder; closes them after."""
    kind: str = request.param
    made: list[Broker] = []

    async def make() -> tuple[Broker, Recorder]:
        broker = make_broker(kind, request)
        recorder = Recorder()
        await broker.start(recorder)
        made.append(broker)
        return broker, recorder

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for broker in made:
        await broker.close()


def networked(brokers: BrokerFactory) -> None:
    if brokers.kind == "memory":  # type: ignore[attr-defined]
        pytest.skip("the in-process broker serves one node by design")


async def test_a_subscribed_channel_receives_a_publication(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("a"))
    await broker.publish([channel("a")], b"hello")
    assert await recorder.next() == (channel("a"), b"hello")


async def test_an_unsubscribed_channel_receives_nothing(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("marker"))
    await broker.publish([channel("a")], b"lost")
    await broker.publish([channel("marker")], b"marker")
    assert await recorder.next() == (channel("marker"), b"marker")


async def test_unsubscribe_stops_delivery(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("a"))
    await broker.subscribe(channel("marker"))
    await broker.publish([channel("a")], b"before")
    assert await recorder.next() == (channel("a"), b"before")
    await broker.unsubscribe(channel("a"))
    await broker.publish([channel("a")], b"after")
    await broker.publish([channel("marker")], b"marker")
    assert await recorder.next() == (channel("marker"), b"marker")


async def test_publications_to_a_channel_arrive_in_publish_order(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("a"))
    sent = [str(n).encode() for n in range(500)]
    for data in sent:
        await broker.publish([channel("a")], data)
    received = await recorder.take(len(sent))
    assert [data for _, data in received] == sent


async def test_publish_to_nobody_is_a_no_op(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("marker"))
    await broker.publish([channel("nobody")], b"lost")
    await broker.publish([], b"nowhere")
    await broker.publish([channel("marker")], b"marker")
    assert await recorder.next() == (channel("marker"), b"marker")


async def test_publish_to_many_channels_delivers_to_each_once(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    # Different hash tags: on a cluster the channels spread over every shard.
    channels = [channel("c", shard=f"s{n}") for n in range(12)]
    for name in channels:
        await broker.subscribe(name)
    await broker.publish(channels, b"once")
    await broker.publish(channels, b"end")
    received: dict[str, list[bytes]] = {name: [] for name in channels}
    for name, data in await recorder.take(2 * len(channels)):
        received[name].append(data)
    # A duplicate would have come before its channel's "end", in place of another's.
    assert received == {name: [b"once", b"end"] for name in channels}


async def test_two_nodes_receive_each_others_publications(brokers: BrokerFactory) -> None:
    networked(brokers)
    first, first_recorder = await brokers()
    second, second_recorder = await brokers()
    await first.subscribe(channel("to-first"))
    await second.subscribe(channel("to-second"))
    await first.publish([channel("to-second")], b"from first")
    await second.publish([channel("to-first")], b"from second")
    assert await second_recorder.next() == (channel("to-second"), b"from first")
    assert await first_recorder.next() == (channel("to-first"), b"from second")


async def test_a_node_receives_only_what_it_subscribed(brokers: BrokerFactory) -> None:
    networked(brokers)
    first, first_recorder = await brokers()
    second, second_recorder = await brokers()
    await first.subscribe(channel("a"))
    await second.subscribe(channel("marker"))
    await first.publish([channel("a"), channel("marker")], b"data")
    assert await first_recorder.next() == (channel("a"), b"data")
    assert await second_recorder.next() == (channel("marker"), b"data")


async def test_subscribe_twice_delivers_once(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("a"))
    await broker.subscribe(channel("a"))
    await broker.publish([channel("a")], b"once")
    await broker.publish([channel("a")], b"end")
    assert await recorder.take(2) == [(channel("a"), b"once"), (channel("a"), b"end")]


async def test_unsubscribe_twice_and_unsubscribe_unknown_are_harmless(
    brokers: BrokerFactory,
) -> None:
    broker, recorder = await brokers()
    await broker.subscribe(channel("a"))
    await broker.unsubscribe(channel("a"))
    await broker.unsubscribe(channel("a"))
    await broker.unsubscribe(channel("never"))
    await broker.subscribe(channel("a"))
    await broker.publish([channel("a")], b"again")
    assert await recorder.next() == (channel("a"), b"again")


async def test_concurrent_subscribes_of_one_channel_deliver_once(brokers: BrokerFactory) -> None:
    broker, recorder = await brokers()
    await asyncio.gather(*(broker.subscribe(channel("a")) for _ in range(5)))
    await broker.publish([channel("a")], b"once")
    await broker.publish([channel("a")], b"end")
    assert await recorder.take(2) == [(channel("a"), b"once"), (channel("a"), b"end")]


async def test_close_is_idempotent(brokers: BrokerFactory) -> None:
    broker, _ = await brokers()
    await broker.subscribe(channel("a"))
    await broker.close()
    await broker.close()


async def test_ping_answers_while_the_broker_runs(brokers: BrokerFactory) -> None:
    broker, _ = await brokers()
    await broker.ping()
