"""A member removed through one node gets nothing of the thread through another after
the removal's commit: every node hears of the change at once, through the broker."""

from __future__ import annotations

import pytest

from protocol.frames import Message, Notification
from realtime.node import Node
from realtime.services.messaging import ThreadCache
from realtime_client import Client, ClientError
from tests.fixtures.cluster import Cluster, ClusterFactory

WAIT = 10.0
"""Longest wait for any one event: it only bounds a failing test."""


async def marker(cluster: Cluster, user: str, mark: int, client: Client) -> list[Message]:
    """Send ``user`` a notification through the first node and wait for it; return the
    messages that reached ``client`` before it.

    The first node publishes in order on one Redis, and the other node reads what it
    subscribed on one connection in order: once the notification is here, everything
    that node A published before it (the removal) was heard by node B too."""
    await cluster.call(cluster[0], "POST", "/v1/notify", {"users": [user], "data": {"mark": mark}})
    before: list[Message] = []
    while True:
        event = await client.next_event((Message, Notification), timeout=WAIT)
        if isinstance(event, Notification) and event.data == {"mark": mark}:
            return before
        if isinstance(event, Message):
            before.append(event)


async def test_a_member_removed_on_one_node_gets_nothing_more_through_another(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await cluster_factory(2, redis_url=redis_url, database_url=postgres_dsn)
    a, b = cluster
    thread = await cluster.group("alice", "bob", "carol")
    async with cluster.client(b, "alice") as alice, cluster.client(b, "bob") as bob, \
            cluster.client(b, "carol") as carol:
        # Node B knows the thread and its members (its cache holds them).
        await bob.send("hello", thread=thread)
        welcome = await alice.send("welcome", thread=thread)
        while (await bob.next_event(Message, timeout=WAIT)).seq != welcome.seq:
            pass

        await cluster.call(a, "POST", f"/v1/threads/{thread}/members",
                           {"add": [], "remove": ["bob"]})
        assert await marker(cluster, "bob", 1, bob) == []

        ack = await alice.send("bob is gone", thread=thread)
        while (await carol.next_event(Message, timeout=WAIT)).seq != ack.seq:
            pass  # the messages before it
        # Nothing of it reaches bob: the next thing he gets is the next marker.
        assert await marker(cluster, "bob", 2, bob) == []
        with pytest.raises(ClientError) as history:
            await bob.history(thread)
        assert history.value.code == "forbidden"
        with pytest.raises(ClientError) as send:
            await bob.send("still here?", thread=thread)
        assert send.value.code == "forbidden"


async def test_while_the_broker_is_down_the_thread_cache_defers_to_the_store(
        node: Node) -> None:
    broker_up = True
    cache = ThreadCache(node.store, trusted=lambda: broker_up)
    group = await node.messaging.create_group(["alice", "bob"], None)
    assert (await cache.get(group.id)) == group
    # Another node removes bob; this one cannot hear of it while its broker is down.
    await node.store.change_members(group.id, [], ["bob"])
    broker_up = False
    fresh = await cache.get(group.id)
    assert fresh is not None and fresh.members == ("alice",)
