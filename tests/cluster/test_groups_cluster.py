"""Membership and moderation across two node processes, one PostgreSQL and Redis (one
server, or a Redis Cluster): a removal takes effect at its entry on every node at once,
and a disconnect closes a user's sessions wherever they are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from protocol.frames import Message, Update
from realtime_client import Client, ClientError
from tests.fixtures.cluster import Cluster, ClusterFactory, NodeProcess

WAIT = 10.0
"""Longest wait for any one event: it only bounds a failing test."""


@pytest.fixture
async def cluster(cluster_factory: ClusterFactory, broker_url: str,
                  postgres_dsn: str) -> AsyncIterator[Cluster]:
    yield await cluster_factory(2, redis_url=broker_url, database_url=postgres_dsn,
                                node_heartbeat=0.2)


async def update(client: Client) -> Update:
    return await client.next_event(Update, timeout=WAIT)


async def test_a_removed_member_on_another_node_gets_nothing_more_and_is_refused(
        cluster: Cluster) -> None:
    a, b = cluster
    async with cluster.client(a, "alice") as alice, cluster.client(b, "bob") as bob, \
            cluster.client(b, "carol") as carol:
        thread = (await alice.create(["bob", "carol"])).thread
        assert thread is not None
        await update(bob)
        # Node b now holds the group's members: bob and carol use it there.
        await carol.send("before", thread=thread)
        assert (await bob.next_event(Message, timeout=WAIT)).body == "before"
        assert (await bob.history(thread)).messages
        await alice.members(thread, remove=["bob"])
        removal = await update(bob)
        assert (removal.kind, removal.removed) == ("members", ["bob"])
        # From the entry on, node b refuses bob everything of the thread...
        for request in (bob.history(thread), bob.send("still?", thread=thread),
                        bob.read(thread, 1), bob.mute(thread)):
            with pytest.raises(ClientError) as refused:
                await request
            assert refused.value.code == "forbidden"
        # ...and what carol sends there reaches alice, never bob: a DM carol sends next,
        # on the same channel, would come after it.
        await carol.send("after", thread=thread)
        while (await alice.next_event(Message, timeout=WAIT)).body != "after":
            pass
        await carol.send("sentinel", to="bob")
        got = await bob.next_event(Message, timeout=WAIT)
        assert (got.body, got.thread) == ("sentinel", "dm:bob:carol")


async def test_an_http_removal_on_one_node_takes_effect_on_the_other(
        cluster: Cluster) -> None:
    a, b = cluster
    thread = await cluster.group("ann", "ben", node=a)
    async with cluster.client(b, "ben") as ben:
        assert (await ben.history(thread)).more is False  # node b caches the group
        await cluster.call(a, "POST", f"/v1/threads/{thread}/members", {"remove": ["ben"]})
        removal = await update(ben)
        while removal.removed != ["ben"]:
            removal = await update(ben)
        with pytest.raises(ClientError) as refused:
            await ben.history(thread)
        assert refused.value.code == "forbidden"


async def sessions_listed(cluster: Cluster, node: NodeProcess, user: str, count: int) -> None:
    """Until the cluster's directory lists ``count`` sessions of ``user`` (heartbeats)."""
    async with asyncio.timeout(WAIT):
        # The directory announces nothing: it can only be asked again.
        while len((await cluster.call(node, "GET", f"/v1/users/{user}/sessions"))  # noqa: ASYNC110
                  ["sessions"]) < count:
            await asyncio.sleep(0.05)


async def close_code(node: NodeProcess, user: str, ready: asyncio.Event,
                     opened: list[None]) -> int | None:
    """Connect as ``user`` and read until the server closes; return its close code."""
    async with connect(node.ws_url, additional_headers={
            "Authorization": f"Bearer {node.token(user)}"}, proxy=None) as ws:
        await ws.recv()  # the welcome
        opened.append(None)
        ready.set()
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    await ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None


async def test_a_disconnect_closes_every_session_on_every_node_and_counts_them(
        cluster: Cluster) -> None:
    a, b = cluster
    ready, opened = asyncio.Event(), []
    sessions = [asyncio.create_task(close_code(node, "dave", ready, opened))
                for node in (a, a, b)]
    async with asyncio.timeout(WAIT):
        while len(opened) < 3:
            ready.clear()
            await ready.wait()
    await sessions_listed(cluster, b, "dave", 3)
    answer = await cluster.call(b, "POST", "/v1/users/dave/disconnect",
                                {"reason": "banned"})
    assert answer == {"closed": 3}
    assert await asyncio.gather(*sessions) == [1008, 1008, 1008]


async def test_a_disconnect_of_nobody_closes_nothing(cluster: Cluster) -> None:
    answer = await cluster.call(cluster[0], "POST", "/v1/users/nobody/disconnect", {})
    assert answer == {"closed": 0}
