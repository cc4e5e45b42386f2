"""What the Redis broker guarantees beyond the contract: outages, cluster sharding, counters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from realtime.broker.base import BrokerUnavailable
from realtime.broker.redis import RedisBroker
from tests.fixtures.redis_cluster import RedisCluster
from tests.fixtures.servers import RedisServer, free_port


class Recorder:
    """A broker handler that queues publications and counts resets."""

    def __init__(self) -> None:
        self.publications: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.resets = 0
        self.reset = asyncio.Event()

    def publication(self, channel: str, data: bytes) -> None:
        self.publications.put_nowait((channel, data))

    def broker_reset(self) -> None:
        self.resets += 1
        self.reset.set()


class WatchedBroker(RedisBroker):
    """A Redis broker that also reports each pub/sub connection it loses."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.lost: asyncio.Queue[str] = asyncio.Queue()

    def down(self, connection: str) -> None:
        super().down(connection)
        self.lost.put_nowait(connection)


@pytest.fixture
async def broker(redis_url: str) -> AsyncIterator[tuple[RedisBroker, Recorder]]:
    started = RedisBroker(redis_url, node_id="test")
    recorder = Recorder()
    await started.start(recorder)
    yield started, recorder
    await started.close()


@pytest.fixture
async def stopped(redis_server: RedisServer) -> AsyncIterator[RedisServer]:
    """Redis stopped for the test (after the broker connected); started again after it."""
    await asyncio.to_thread(redis_server.stop)
    yield redis_server
    await asyncio.to_thread(redis_server.start)


async def numsub(url: str, channel: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
        return int(count)
    finally:
        await client.aclose()


# -- publishing ------------------------------------------------------------------------


async def test_publications_asked_at_once_arrive_each_once_in_the_order_asked(
    broker: tuple[RedisBroker, Recorder],
) -> None:
    # They share pipelines (redis_pipeline): none may be lost, doubled or reordered.
    node, recorder = broker
    await node.subscribe("rt:{u:ann}")
    await asyncio.gather(*(node.publish(["rt:{u:ann}", "rt:{u:nobody}"], b"%d" % i)
                           for i in range(1500)))
    got = [await recorder.publications.get() for _ in range(1500)]
    assert got == [("rt:{u:ann}", b"%d" % i) for i in range(1500)]
    assert recorder.publications.empty()
    assert node.publishes == 3000


# -- outages ---------------------------------------------------------------------------


async def test_a_restart_of_redis_resets_the_handler_once(
    broker: tuple[RedisBroker, Recorder], redis_server: RedisServer
) -> None:
    node, recorder = broker
    await node.subscribe("rt:{u:ann}")
    await asyncio.to_thread(redis_server.restart)
    await recorder.reset.wait()
    # A round trip after the reset: a second reset for this outage would have come first.
    await node.publish(["rt:{u:ann}"], b"after")
    await recorder.publications.get()
    assert recorder.resets == 1
    assert node.reconnects == 1


async def test_subscriptions_deliver_again_after_a_restart(
    broker: tuple[RedisBroker, Recorder], redis_server: RedisServer
) -> None:
    node, recorder = broker
    await node.subscribe("rt:{u:ann}")
    await asyncio.to_thread(redis_server.restart)
    await recorder.reset.wait()
    await node.publish(["rt:{u:ann}"], b"after")
    assert await recorder.publications.get() == ("rt:{u:ann}", b"after")


async def test_publish_while_redis_is_down_raises_broker_unavailable(
    broker: tuple[RedisBroker, Recorder], stopped: RedisServer
) -> None:
    node, _ = broker
    with pytest.raises(BrokerUnavailable):
        await node.publish(["rt:{u:ann}"], b"lost")
    assert node.publish_errors == 1


async def test_ping_fails_while_redis_is_down(
    broker: tuple[RedisBroker, Recorder], stopped: RedisServer
) -> None:
    node, _ = broker
    with pytest.raises(BrokerUnavailable):
        await node.ping()


async def test_a_channel_unsubscribed_during_an_outage_stays_unsubscribed(
    broker: tuple[RedisBroker, Recorder], stopped: RedisServer
) -> None:
    node, recorder = broker
    await node.subscribe("rt:{u:ann}")
    await node.subscribe("rt:{u:bob}")
    await node.unsubscribe("rt:{u:ann}")
    await asyncio.to_thread(stopped.start)
    await recorder.reset.wait()
    assert await numsub(stopped.url, "rt:{u:ann}") == 0
    assert await numsub(stopped.url, "rt:{u:bob}") == 1


async def test_a_channel_subscribed_during_an_outage_is_subscribed_before_the_reset(
    broker: tuple[RedisBroker, Recorder], stopped: RedisServer
) -> None:
    node, recorder = broker
    await node.subscribe("rt:{u:ann}")  # returns at once: Redis is down
    await asyncio.to_thread(stopped.start)
    await recorder.reset.wait()
    assert await numsub(stopped.url, "rt:{u:ann}") == 1


async def test_start_raises_broker_unavailable_when_redis_is_unreachable() -> None:
    node = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BrokerUnavailable):
        await node.start(Recorder())
    await node.close()


# -- counters --------------------------------------------------------------------------


async def test_counters_count_publications_and_subscriptions(
    broker: tuple[RedisBroker, Recorder],
) -> None:
    node, _ = broker
    await node.subscribe("rt:{u:ann}")
    await node.subscribe("rt:{u:bob}")
    await node.unsubscribe("rt:{u:bob}")
    await node.publish(["rt:{u:ann}", "rt:{u:bob}", "rt:{u:cid}"], b"data")
    assert (node.publishes, node.publish_errors, node.subscriptions) == (3, 0, 1)


async def test_the_connections_carry_the_node_id_as_client_name(
    broker: tuple[RedisBroker, Recorder], redis_url: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        names = {entry["name"] for entry in await client.client_list()}
    finally:
        await client.aclose()
    assert {"rt-test", "rt-test:sub"} <= names


# -- Redis Cluster ---------------------------------------------------------------------


async def test_a_plain_url_to_a_cluster_node_selects_sharded_pub_sub(
    redis_cluster: RedisCluster,
) -> None:
    node = RedisBroker(f"redis://{redis_cluster.host}:{redis_cluster.ports[1]}")
    recorder = Recorder()
    await node.start(recorder)
    try:
        await node.subscribe("rt:{u:ann}")
        await node.publish(["rt:{u:ann}"], b"sharded")
        assert await recorder.publications.get() == ("rt:{u:ann}", b"sharded")
        assert node.cluster
    finally:
        await node.close()


def subscriber_counts(reply: object) -> dict[bytes, int]:
    """A ``PUBSUB [SHARD]NUMSUB`` reply as {channel: subscribers}: redis-py returns the
    server's flat list or parses it into pairs, depending on its version."""
    assert isinstance(reply, list)
    if reply and isinstance(reply[0], tuple | list):
        return {bytes(channel): int(count) for channel, count in reply}
    return {bytes(reply[i]): int(reply[i + 1]) for i in range(0, len(reply), 2)}


async def test_on_a_cluster_a_subscription_is_a_shard_channel_on_its_primary(
    redis_cluster: RedisCluster,
) -> None:
    node = RedisBroker(redis_cluster.url)
    await node.start(Recorder())
    client = ClusterClient(host=redis_cluster.host, port=redis_cluster.ports[0])
    sharded: dict[int, dict[bytes, int]] = {}
    classic: dict[int, dict[bytes, int]] = {}
    try:
        await client.initialize()
        await node.subscribe("rt:{u:ann}")
        owner = client.get_node_from_key("rt:{u:ann}").port
        # Each server asked on its own: the cluster client's parsing of these replies
        # has changed between redis-py releases.
        for port in redis_cluster.ports:
            server = aioredis.Redis(host=redis_cluster.host, port=port)
            try:
                sharded[port] = subscriber_counts(
                    await server.execute_command("PUBSUB", "SHARDNUMSUB", "rt:{u:ann}"))
                classic[port] = subscriber_counts(
                    await server.execute_command("PUBSUB", "NUMSUB", "rt:{u:ann}"))
            finally:
                await server.aclose()
    finally:
        await client.aclose()
        await node.close()
    assert sharded[owner] == {b"rt:{u:ann}": 1}
    assert all(counts == {b"rt:{u:ann}": 0} for counts in classic.values())


async def test_on_a_cluster_each_primary_has_its_own_reader(
    redis_cluster: RedisCluster,
) -> None:
    node = RedisBroker(redis_cluster.url)
    await node.start(Recorder())
    try:
        readers = {
            task.get_name() for task in asyncio.all_tasks() if "redis-pubsub" in task.get_name()
        }
    finally:
        await node.close()
    assert readers == {f"redis-pubsub {redis_cluster.host}:{port}" for port in redis_cluster.ports}


async def test_an_outage_of_several_primaries_resets_the_handler_once(
    redis_cluster: RedisCluster,
) -> None:
    node = WatchedBroker(redis_cluster.url)
    recorder = Recorder()
    await node.start(recorder)
    channels = [f"rt:{{u:{n}}}" for n in range(12)]  # spread over every primary
    try:
        for channel in channels:
            await node.subscribe(channel)
        await asyncio.to_thread(redis_cluster.stop_nodes, [1, 2])
        lost = {await node.lost.get(), await node.lost.get()}
        assert node.connections_down == len(lost) == 2
        await asyncio.to_thread(redis_cluster.start_nodes, [1, 2])
        await recorder.reset.wait()
        await node.publish(channels, b"after")
        received = {(await recorder.publications.get())[0] for _ in channels}
    finally:
        await node.close()
    assert received == set(channels)
    assert recorder.resets == 1
