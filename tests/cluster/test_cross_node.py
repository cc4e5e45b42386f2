"""Three node processes, one PostgreSQL, and Redis (one server, or a Redis Cluster with
sharded pub/sub): what one node's users do reaches the users of the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from protocol.frames import Ack, Likes, Message, Notification, Presence, Receipt, TypingEvent
from realtime_client import Client
from tests.fixtures.cluster import Cluster, ClusterFactory

WAIT = 10.0
"""Longest wait for any one event: it only bounds a failing test."""


@pytest.fixture
async def cluster(cluster_factory: ClusterFactory, broker_url: str,
                  postgres_dsn: str) -> AsyncIterator[Cluster]:
    yield await cluster_factory(3, redis_url=broker_url, database_url=postgres_dsn)


async def next_message(client: Client) -> Message:
    return await client.next_event(Message, timeout=WAIT)


async def collect(client: Client, count: int) -> list[Message]:
    """Up to ``count`` messages: fewer if no more come within ``WAIT`` (the assertions
    on what arrived then say exactly what is missing)."""
    got: list[Message] = []
    with contextlib.suppress(TimeoutError):
        while len(got) < count:
            got.append(await next_message(client))
    return got


async def test_a_dm_reaches_the_recipient_on_another_node_and_the_senders_other_device(
        cluster: Cluster) -> None:
    a, b, c = cluster
    async with cluster.client(a, "alice") as phone, cluster.client(b, "bob") as bob, \
            cluster.client(c, "alice") as laptop:
        ack = await phone.send("hello", to="bob", cid="c-1")
        got = await next_message(bob)
        mirrored = await next_message(laptop)
    assert (got.thread, got.seq, got.from_, got.body) == (ack.thread, ack.seq, "alice", "hello")
    assert got.cid is None  # the client message id is the sender's own business
    assert (mirrored.thread, mirrored.seq, mirrored.cid) == (ack.thread, ack.seq, "c-1")


async def test_a_group_message_reaches_members_on_three_nodes(cluster: Cluster) -> None:
    a, b, c = cluster
    thread = await cluster.group("ann", "ben", "cat")
    async with cluster.client(a, "ann") as ann, cluster.client(b, "ben") as ben, \
            cluster.client(c, "cat") as cat:
        ack = await ann.send("to all", thread=thread)
        received = [await next_message(ben), await next_message(cat)]
    assert [(m.thread, m.seq, m.from_, m.body) for m in received] == \
        [(thread, ack.seq, "ann", "to all")] * 2


async def test_typing_reaches_a_member_on_another_node(cluster: Cluster) -> None:
    a, b, _ = cluster
    thread = await cluster.group("ann", "ben")
    async with cluster.client(a, "ann") as ann, cluster.client(b, "ben") as ben:
        await ann.typing(thread, True)
        typing = await ben.next_event(TypingEvent, timeout=WAIT)
    assert (typing.thread, typing.user, typing.on) == (thread, "ann", True)


async def test_a_read_receipt_reaches_the_sender_on_another_node(cluster: Cluster) -> None:
    a, b, _ = cluster
    async with cluster.client(a, "ann") as ann, cluster.client(b, "ben") as ben:
        ack = await ann.send("read me", to="ben")
        got = await next_message(ben)
        await ben.read(got.thread, got.seq)
        receipt = await ann.next_event(Receipt, timeout=WAIT)
    assert (receipt.thread, receipt.user, receipt.seq) == (ack.thread, "ben", ack.seq)


async def test_presence_followed_on_one_node_tracks_a_user_on_another(cluster: Cluster) -> None:
    _, b, c = cluster
    await cluster.group("ann", "cat")
    async with cluster.client(b, "ann") as ann:
        await ann.subscribe("presence:cat")
        before = await ann.next_event(Presence, timeout=WAIT)
        async with cluster.client(c, "cat"):
            online = await ann.next_event(Presence, timeout=WAIT)
        offline = await ann.next_event(Presence, timeout=WAIT)
    assert (before.user, before.online) == ("cat", False)
    assert (online.user, online.online, online.last_seen) == ("cat", True, None)
    assert (offline.user, offline.online) == ("cat", False)
    assert offline.last_seen is not None


async def test_likes_from_two_nodes_reach_a_viewer_on_a_third_with_the_exact_count(
        cluster: Cluster) -> None:
    a, b, c = cluster
    likers = [f"fan{i}" for i in range(20)]
    async with cluster.client(b, "viewer") as viewer:
        await viewer.subscribe("post:p1")
        assert (await viewer.next_event(Likes, timeout=WAIT)).count == 0
        await asyncio.gather(*(
            cluster.call(a if i % 2 else c, "POST", "/v1/posts/p1/likes",
                         {"user": user, "on": True})
            for i, user in enumerate(likers)
        ))
        # Updates are coalesced, so intermediate counts may be skipped; the last one
        # carries the final count.
        while (update := await viewer.next_event(Likes, timeout=WAIT)).count != len(likers):
            assert update.post == "p1" and update.count < len(likers)
    count = await cluster.call(b, "GET", "/v1/posts/p1/likes")
    assert count == {"post": "p1", "count": len(likers)}


async def test_notify_through_one_node_reaches_a_user_on_another_and_lists_them_live(
        cluster: Cluster) -> None:
    a, _, c = cluster
    async with cluster.client(c, "cat") as cat:
        answer = await cluster.call(a, "POST", "/v1/notify",
                                    {"users": ["cat", "dan"], "data": {"kind": "hello"}})
        notification = await cat.next_event(Notification, timeout=WAIT)
    assert answer["live"] == ["cat"]
    assert (notification.nid, notification.data) == (answer["nid"], {"kind": "hello"})


async def test_a_dm_opened_from_two_nodes_at_once_meets_in_one_thread(cluster: Cluster) -> None:
    a, b, _ = cluster
    async with cluster.client(a, "ann") as ann, cluster.client(b, "ben") as ben:
        from_ann, from_ben = await asyncio.gather(ann.send("hi ben", to="ben"),
                                                  ben.send("hi ann", to="ann"))
        ann_got, ben_got = await next_message(ann), await next_message(ben)
    assert from_ann.thread == from_ben.thread
    assert sorted([from_ann.seq, from_ben.seq]) == [1, 2]
    assert (ann_got.thread, ann_got.body) == (from_ann.thread, "hi ann")
    assert (ben_got.thread, ben_got.body) == (from_ann.thread, "hi ben")


async def test_concurrent_senders_on_two_nodes_give_every_member_one_gapless_seq(
        cluster: Cluster) -> None:
    a, b, c = cluster
    per_sender = 30
    total = 2 * per_sender
    thread = await cluster.group("ann", "ben", "cat", "dan")

    async def send_all(client: Client, who: str) -> list[Ack]:
        return list(await asyncio.gather(*(
            client.send(f"{who}-{i}", thread=thread) for i in range(per_sender)
        )))

    async with cluster.client(a, "ann") as ann, cluster.client(b, "ben") as ben, \
            cluster.client(c, "cat") as cat, cluster.client(a, "dan") as dan:
        acks_ann, acks_ben = await asyncio.gather(send_all(ann, "ann"), send_all(ben, "ben"))
        seen = dict(zip(("cat", "dan", "ann", "ben"), await asyncio.gather(
            collect(cat, total), collect(dan, total),
            collect(ann, per_sender), collect(ben, per_sender)), strict=True))
        page = await cat.history(thread, limit=200)

    everything = list(range(2, total + 2))  # seq 1 is the group's creation
    for name, node in (("cat", c), ("dan", a)):
        got = [m.seq for m in seen[name]]
        assert got == everything, \
            f"{name} on {node.node_id}: missing {sorted(set(everything) - set(got))}, got {got}"
    # A sending device gets the ack for its own message, not the message; it sees the
    # other sender's messages live: together, every seq once.
    for who, acks in (("ann", acks_ann), ("ben", acks_ben)):
        own = {x.seq for x in acks}
        echoed = [(m.seq, m.from_, m.cid) for m in seen[who] if m.seq in own]
        assert not echoed, f"{who}'s sending device got its own acked messages: {echoed}"
        got = sorted([m.seq for m in seen[who]] + list(own))
        assert got == everything, f"{who}: missing {sorted(set(everything) - set(got))}"
    assert [(m.seq, m.msg, m.body) for m in page.messages] == \
        [(m.seq, m.msg, m.body) for m in seen["cat"]]
    # Each sender's own messages keep the order they were sent in.
    for who in ("ann", "ben"):
        mine = [m.body for m in seen["cat"] if m.from_ == who]
        assert mine == [f"{who}-{i}" for i in range(per_sender)]
