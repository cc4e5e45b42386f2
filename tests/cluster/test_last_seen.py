"""``last_seen`` in a cluster on PostgreSQL and Redis: the epoch-ms time a user went
offline, the same in their followers' ``presence`` frame and in ``GET /v1/presence``
on any node, after a clean close and after the crash of the node that held them (then:
when the cluster noticed, the end of their last presence lease)."""

from __future__ import annotations

import time

from protocol.frames import Presence
from tests.fixtures.cluster import Cluster, ClusterFactory

TTL = 3.0
"""Presence lease of the nodes under test, seconds."""
WAIT = 15.0
"""Bounds a failing test only."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def start(cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> Cluster:
    return await cluster_factory(2, redis_url=redis_url, database_url=postgres_dsn,
                                 presence_ttl=TTL)


async def reported(cluster: Cluster, user: str) -> list[dict[str, object]]:
    """``user``'s presence as each node's API reports it."""
    return [(await cluster.call(node, "GET", f"/v1/presence?users={user}"))["users"][0]
            for node in cluster]


async def test_after_a_clean_close_every_node_reports_when_the_user_left(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await start(cluster_factory, redis_url, postgres_dsn)
    a, b = cluster
    await cluster.group("ann", "bob")
    async with cluster.client(b, "bob") as bob:
        await bob.subscribe("presence:ann")
        assert not (await bob.next_event(Presence, timeout=WAIT)).online
        async with cluster.client(a, "ann"):
            assert (await bob.next_event(Presence, timeout=WAIT)).online
            before = now_ms()
        gone = await bob.next_event(Presence, timeout=WAIT)
        after = now_ms()
    assert gone.online is False
    assert gone.last_seen is not None and before <= gone.last_seen <= after
    expected = {"user": "ann", "online": False, "last_seen": gone.last_seen}
    assert await reported(cluster, "ann") == [expected, expected]


async def test_after_a_crash_every_node_reports_when_the_cluster_noticed(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await start(cluster_factory, redis_url, postgres_dsn)
    a, b = cluster
    await cluster.group("ann", "bob")
    async with cluster.client(b, "bob") as bob:
        await bob.subscribe("presence:ann")
        await bob.next_event(Presence, timeout=WAIT)
        async with cluster.client(a, "ann", reconnect=False):
            assert (await bob.next_event(Presence, timeout=WAIT)).online
            killed = now_ms()
            await a.kill()
            gone = await bob.next_event(Presence, timeout=WAIT)
            noticed = now_ms()
        states = [(await cluster.call(b, "GET", "/v1/presence?users=ann"))["users"][0]]
    assert gone.online is False and gone.last_seen is not None
    # The lease a crashed node last renewed ends after the crash, and before anyone
    # could see that it had.
    assert killed <= gone.last_seen <= noticed
    assert states == [{"user": "ann", "online": False, "last_seen": gone.last_seen}]
    await a.restart()
    assert (await reported(cluster, "ann"))[0]["last_seen"] == gone.last_seen
