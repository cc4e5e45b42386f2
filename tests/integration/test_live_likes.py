"""Live likes: exact counts, coalesced updates, owner notifications."""

from __future__ import annotations

import asyncio
import time

from protocol.frames import Likes, Notification
from realtime.node import Node
from realtime_client import Client


async def test_a_like_is_acked_with_the_count(node: Node) -> None:
    async with Client(node.ws_url, node.token("ann")) as ann:
        ack = await ann.like("p1", True)
    assert (ack.post, ack.count) == ("p1", 1)


async def test_double_likes_and_unliking_nothing_keep_counts_exact(node: Node) -> None:
    async with Client(node.ws_url, node.token("ann")) as ann:
        await ann.like("p1", True)
        assert (await ann.like("p1", True)).count == 1
        assert (await ann.like("p1", False)).count == 0
        assert (await ann.like("p1", False)).count == 0
        assert (await ann.like("never-liked", False)).count == 0


async def test_subscribing_to_a_post_sends_its_count_at_once(node: Node) -> None:
    async with Client(node.ws_url, node.token("ann")) as ann, \
            Client(node.ws_url, node.token("bob")) as bob:
        await ann.like("p1", True)
        await bob.subscribe("post:p1")
        likes = await bob.next_event(Likes)
    assert (likes.post, likes.count) == ("p1", 1)


async def test_a_hot_post_gives_viewers_few_updates_and_the_exact_final_count(
    node: Node,
) -> None:
    likers = 300
    async with Client(node.ws_url, node.token("viewer")) as viewer:
        await viewer.subscribe("post:hot")
        assert (await viewer.next_event(Likes)).count == 0
        started = time.monotonic()
        await asyncio.gather(*(node.services.likes.like(f"u{i}", "hot", True)
                               for i in range(likers)))
        updates = []
        while not updates or updates[-1] != likers:
            updates.append((await viewer.next_event(Likes)).count)
        elapsed = time.monotonic() - started
    # At most one update per coalescing interval while the burst lasted, plus the last.
    assert len(updates) <= elapsed / node.services.likes.interval + 1
    assert updates == sorted(updates)


async def test_the_owner_is_notified_of_a_like_but_not_of_their_own(node: Node) -> None:
    await node.services.likes.set_owner("p1", "owner")
    async with Client(node.ws_url, node.token("owner")) as owner, \
            Client(node.ws_url, node.token("bob")) as bob:
        await owner.like("p1", True)  # own like: nobody is notified
        await bob.like("p1", True)
        notice = await owner.next_event(Notification)
    assert notice.data == {"kind": "like", "post": "p1", "user": "bob", "count": 2}


async def test_an_unlike_notifies_nobody(node: Node) -> None:
    await node.services.likes.set_owner("p1", "owner")
    node.services.likes.owner_window = 0.0
    async with Client(node.ws_url, node.token("owner")) as owner, \
            Client(node.ws_url, node.token("bob")) as bob, \
            Client(node.ws_url, node.token("cy")) as cy:
        await bob.like("p1", True)
        assert (await owner.next_event(Notification)).data["user"] == "bob"
        await bob.like("p1", False)
        await cy.like("p1", True)
        notice = await owner.next_event(Notification)
    assert (notice.data["user"], notice.data["count"]) == ("cy", 1)


async def test_owner_notifications_are_coalesced_per_post(node: Node) -> None:
    await node.services.likes.set_owner("p1", "owner")
    node.services.likes.owner_window = 1.0
    async with Client(node.ws_url, node.token("owner")) as owner:
        for user in ("a", "b", "c"):
            await node.services.likes.like(user, "p1", True)
        first = await owner.next_event(Notification)
        for user in ("d", "e"):
            await node.services.likes.like(user, "p1", True)
        second = await owner.next_event(Notification)
    # The burst folds into one notice, and the next window carries the latest like.
    assert first.data["count"] == 3
    assert (second.data["user"], second.data["count"]) == ("e", 5)

