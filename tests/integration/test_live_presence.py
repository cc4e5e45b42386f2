"""Presence over real sockets: shared-thread followers only, transitions as they happen."""

from __future__ import annotations

import asyncio

import pytest

from protocol.frames import Message, Presence
from realtime.node import Node
from realtime_client import Client, ClientError
from tests.fixtures.node import NodeFactory


async def befriend(node: Node, a: str, b: str) -> None:
    """Give ``a`` and ``b`` a thread in common (their DM), without connecting either."""
    await node.messaging.thread_for(a, to=b)


async def seen_and_gone(node: Node, user: str) -> None:
    """Connect ``user`` once and return when the node has recorded them offline."""
    async with Client(node.ws_url, node.token(user)):
        pass
    # The session ends on the server after the client's close returns; the store has no
    # event to wait on, so poll it, bounded.
    async with asyncio.timeout(5):
        while not await node.store.last_seen([user]):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_stranger_cannot_follow_presence(node: Node) -> None:
    async with Client(node.ws_url, node.token("eve")) as eve:
        with pytest.raises(ClientError) as refused:
            await eve.subscribe("presence:ann")
    assert refused.value.code == "forbidden"


async def test_following_sends_the_current_state_at_once(node: Node) -> None:
    await befriend(node, "ann", "bob")
    async with Client(node.ws_url, node.token("ann")), \
            Client(node.ws_url, node.token("bob")) as bob:
        await bob.subscribe("presence:ann")
        state = await bob.next_event(Presence)
    assert (state.user, state.online, state.last_seen) == ("ann", True, None)


async def test_an_offline_user_is_shown_with_last_seen(node: Node) -> None:
    await befriend(node, "ann", "bob")
    await seen_and_gone(node, "ann")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await bob.subscribe("presence:ann")
        state = await bob.next_event(Presence)
    assert state.online is False
    assert isinstance(state.last_seen, int) and state.last_seen > 0


async def test_a_user_with_two_devices_stays_online_until_the_last_closes(node: Node) -> None:
    await befriend(node, "ann", "bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await bob.subscribe("presence:ann")
        assert (await bob.next_event(Presence)).online is False
        phone = Client(node.ws_url, node.token("ann"))
        laptop = Client(node.ws_url, node.token("ann"))
        await phone.connect()
        assert (await bob.next_event(Presence)).online is True
        await laptop.connect()
        await phone.close()
        # Nothing changed for bob: the next presence event is the laptop's departure,
        # and a message sent in between arrives before it.
        await laptop.send("still here", to="bob")
        assert isinstance(await bob.next_event((Message, Presence)), Message)
        await laptop.close()
        gone = await bob.next_event(Presence)
    assert gone.online is False and gone.last_seen is not None


async def test_unsubscribe_stops_presence_events(node: Node) -> None:
    await befriend(node, "ann", "bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await bob.subscribe("presence:ann")
        await bob.next_event(Presence)
        await bob.unsubscribe("presence:ann")
        async with Client(node.ws_url, node.token("ann")) as ann:
            await ann.send("after unsubscribe", to="bob")
            assert isinstance(await bob.next_event((Message, Presence)), Message)


async def test_a_malformed_topic_is_bad_request(node: Node) -> None:
    async with Client(node.ws_url, node.token("bob")) as bob:
        with pytest.raises(ClientError) as refused:
            await bob.subscribe("weather:today")
    assert refused.value.code == "bad_request"


async def test_topics_per_session_are_limited(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=1000.0, limit_burst=1000)
    async with Client(node.ws_url, node.token("bob")) as bob:
        limit = node.config.limits.max_topics
        for i in range(limit):
            await bob.subscribe(f"post:p{i}")
        with pytest.raises(ClientError) as refused:
            await bob.subscribe("post:one-too-many")
    assert refused.value.code == "forbidden"
