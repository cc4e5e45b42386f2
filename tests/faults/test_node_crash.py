"""A node is SIGKILLed with users online: nothing it held is lost.

Its users go offline by themselves (their presence leases expire), the other nodes keep
serving, and a user who reconnects to another node with their cursor gets every message
sent meanwhile, exactly once and in order.
"""

from __future__ import annotations

import asyncio

from protocol.frames import Message, Presence, Synced
from realtime_client import Client
from tests.fixtures.cluster import Cluster, ClusterFactory

TTL = 3.0
"""Presence lease of the nodes under test, seconds (the default is 20)."""
SWEEP = min(2.0, TTL / 4)
OFFLINE_BOUND = TTL + 2 * SWEEP + 2.0
"""Longest a crashed node's user may stay online: the lease, a sweep, and slack for a
loaded machine. With the default lease the same reasoning gives 20 + 4 + 2 < 30 s."""
WAIT = 10.0


async def start(cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> Cluster:
    return await cluster_factory(3, redis_url=redis_url, database_url=postgres_dsn,
                                 presence_ttl=TTL)


async def test_users_of_a_killed_node_go_offline_within_the_presence_ttl(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await start(cluster_factory, redis_url, postgres_dsn)
    a, b, _ = cluster
    await cluster.group("ann", "ada", "bob")
    async with cluster.client(a, "ann", reconnect=False), \
            cluster.client(a, "ada", reconnect=False), cluster.client(b, "bob") as bob:
        for user in ("ann", "ada"):
            await bob.subscribe(f"presence:{user}")
            assert (await bob.next_event(Presence, timeout=WAIT)).online
        await a.kill()
        went: set[str] = set()
        # The bound is the guarantee under test: offline within the lease, plus a sweep.
        async with asyncio.timeout(OFFLINE_BOUND):
            while len(went) < 2:
                change = await bob.next_event(Presence, timeout=OFFLINE_BOUND)
                assert not change.online, change
                went.add(change.user)
        states = await cluster.call(b, "GET", "/v1/presence?users=ann,ada")
    assert went == {"ann", "ada"}
    assert [s["online"] for s in states["users"]] == [False, False]
    assert all(s["last_seen"] is not None for s in states["users"])


async def test_a_user_of_a_killed_node_resumes_on_another_with_every_message_once(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await start(cluster_factory, redis_url, postgres_dsn)
    a, b, c = cluster
    group = await cluster.group("ann", "bob", "cat")
    async with cluster.client(b, "bob") as bob, cluster.client(c, "cat") as cat:
        async with cluster.client(a, "ann", reconnect=False) as ann:
            # Messages ann processed before the crash: her cursor is past them.
            before = [await bob.send(f"before-{i}", to="ann") for i in range(3)]
            for _ in before:
                await ann.next_event(Message, timeout=WAIT)
            cursor = ann.cursor
            await a.kill()
            # The other nodes keep serving while ann is away.
            sent = []
            for i in range(10):
                sent.append(await bob.send(f"dm-{i}", to="ann"))
                sent.append(await cat.send(f"group-{i}", thread=group))
        assert cursor is not None

        resumed = Client(b.ws_url, b.token("ann"), cursor=cursor, reconnect=False)
        async with resumed:
            replayed: list[Message] = []
            while not isinstance(event := await resumed.next_event((Message, Synced),
                                                                   timeout=WAIT), Synced):
                replayed.append(event)

    got = [(m.thread, m.seq) for m in replayed]
    assert len(got) == len(set(got)), f"replayed twice: {got}"
    assert sorted(got) == sorted((x.thread, x.seq) for x in sent)
    for thread in {t for t, _ in got}:
        seqs = [s for t, s in got if t == thread]
        assert seqs == sorted(seqs), f"{thread} out of order: {seqs}"


async def test_a_killed_node_restarted_serves_again_with_nothing_lost(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await start(cluster_factory, redis_url, postgres_dsn)
    a, b, _ = cluster
    async with cluster.client(b, "bob") as bob:
        async with cluster.client(a, "ann", reconnect=False) as ann:
            cursor = ann.cursor
        await a.kill()
        sent = [await bob.send(f"while-down-{i}", to="ann") for i in range(3)]
        await a.restart()
        async with cluster.client(a, "ann", cursor=cursor, reconnect=False) as ann:
            replayed = [await ann.next_event(Message, timeout=WAIT) for _ in sent]
            live = await bob.send("after", to="ann")
            after = await ann.next_event(Message, timeout=WAIT)
    assert [(m.thread, m.seq) for m in replayed] == [(x.thread, x.seq) for x in sent]
    assert (after.thread, after.seq) == (live.thread, live.seq)
