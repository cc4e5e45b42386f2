"""The life of a message across nodes: an edit, a reaction or an unsend made on one node
reaches the members' devices on the others, in seq order with the messages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from protocol.frames import Message, Update
from realtime_client import Client
from tests.fixtures.cluster import Cluster, ClusterFactory

WAIT = 10.0
"""Longest wait for any one event: it only bounds a failing test."""


@pytest.fixture
async def cluster(cluster_factory: ClusterFactory, broker_url: str,
                  postgres_dsn: str) -> AsyncIterator[Cluster]:
    yield await cluster_factory(3, redis_url=broker_url, database_url=postgres_dsn)


async def entries(client: Client, count: int) -> list[Message | Update]:
    """The next ``count`` messages and updates, skipping anything else."""
    got: list[Message | Update] = []
    while len(got) < count:
        event = await client.next_event(timeout=WAIT)
        if isinstance(event, Message | Update):
            got.append(event)
    return got


async def test_changes_made_on_one_node_reach_devices_on_the_others_in_order(
        cluster: Cluster) -> None:
    a, b, c = cluster
    async with cluster.client(a, "alice") as phone, cluster.client(b, "bob") as bob, \
            cluster.client(c, "alice") as laptop:
        ack = await phone.send("helo", to="bob")
        assert ack.thread is not None and isinstance(ack.seq, int)
        await phone.edit(ack.thread, ack.seq, "hello")
        await bob.next_event(Message, timeout=WAIT)
        await bob.react(ack.thread, ack.seq, "👋")
        await phone.unsend(ack.thread, ack.seq)
        on_bob = await entries(bob, 2)
        on_laptop = await entries(laptop, 4)
    assert [(e.seq, e.kind) for e in on_bob if isinstance(e, Update)] == [
        (ack.seq + 1, "edit"), (ack.seq + 3, "unsend")]
    assert [(type(e).__name__, e.seq) for e in on_laptop] == [
        ("Message", 1), ("Update", 2), ("Update", 3), ("Update", 4)]
    react = on_laptop[2]
    assert isinstance(react, Update)
    assert (react.kind, react.user, react.emoji, react.on) == ("react", "bob", "👋", True)
    edit = on_laptop[1]
    assert isinstance(edit, Update) and (edit.body, edit.user) == ("hello", "alice")
