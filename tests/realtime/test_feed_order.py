"""A device's feed under reordering: what a cluster can do to publications, done by hand.

Messages are committed to the store without being published, then their publications
are handed to the session late and out of order, as when another node is slow or its
publication was lost.
"""

from __future__ import annotations

from protocol.frames import Message, Synced
from realtime.events import Delivery, MessageEvent
from realtime.node import Node
from realtime.session import Session
from realtime.store.base import NewMessage, StoredMessage
from realtime_client import Client


def session_of(node: Node, user: str) -> Session:
    (session,) = [s for s in node._sessions if s.user == user]
    return session


def publication(m: StoredMessage) -> Delivery:
    return Delivery(MessageEvent(thread=m.thread, seq=m.seq, pos=m.pos, msg=m.msg,
                                 sender=m.sender, body=m.body, meta=m.meta, ts=m.ts, cid=m.cid,
                                 origin=None))


async def commit_unpublished(node: Node, thread: str, body: str) -> StoredMessage:
    appended = await node.store.append(NewMessage(thread=thread, sender="ann", body=body, ts=1))
    return appended.message


async def test_a_message_after_a_gap_waits_for_the_missing_ones_from_the_store(
    node: Node,
) -> None:
    thread = await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await node.messaging.post(thread, "ann", "one")
        assert (await bob.next_event(Message)).body == "one"
        two = await commit_unpublished(node, thread.id, "two")
        three = await commit_unpublished(node, thread.id, "three")
        feed = session_of(node, "bob").feed
        feed.deliver(publication(three))  # arrives before two, whose publication is late
        feed.deliver(publication(two))
        await node.messaging.post(thread, "ann", "four")
        bodies = [(await bob.next_event(Message)).body for _ in range(3)]
    assert bodies == ["two", "three", "four"]


async def test_a_duplicate_publication_is_dropped(node: Node) -> None:
    thread = await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        one = (await node.messaging.post(thread, "ann", "one")).message
        await bob.next_event(Message)
        session_of(node, "bob").feed.deliver(publication(one))
        await node.messaging.post(thread, "ann", "two")
        assert (await bob.next_event(Message)).body == "two"


async def test_an_unsettled_cursor_lists_what_it_has_and_replays_only_the_rest(
    node: Node,
) -> None:
    node.watermark.ordered = False  # as in a cluster; nothing has settled yet
    thread = await node.messaging.thread_for("ann", to="bob")
    other = await node.messaging.thread_for("cy", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        late = (await node.store.append(NewMessage(thread=other.id, sender="cy", body="late",
                                                   ts=1))).message
        await node.messaging.post(thread, "ann", "early")
        received = await bob.next_event(Message)
        cursor = received.cursor
    # The late message (a lower position, still in flight) is not covered by the cursor.
    assert cursor is not None
    assert not node.cursors.open(cursor).covers(late.thread, late.seq, late.pos)
    async with Client(node.ws_url, node.token("bob"), cursor=cursor) as again:
        replayed = await again.next_event((Message, Synced))
        assert isinstance(replayed, Message) and replayed.body == "late"
        assert isinstance(await again.next_event((Message, Synced)), Synced)


async def test_a_repair_never_hands_a_device_its_own_unacked_message(node: Node) -> None:
    thread = await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await node.messaging.post(thread, "ann", "one")
        await bob.next_event(Message)
        feed = session_of(node, "bob").feed
        # bob's own send is committed, its ack still on the way, when a later message
        # from ann arrives and the gap is repaired from the store.
        feed.sending("bob-cid")
        await node.store.append(NewMessage(thread=thread.id, sender="bob", body="mine",
                                           cid="bob-cid", ts=1))
        later = await commit_unpublished(node, thread.id, "after")
        feed.deliver(publication(later))
        assert (await bob.next_event(Message)).body == "after"


async def test_in_a_cluster_a_threads_first_message_waits_for_earlier_ones_still_on_the_way(
    node: Node,
) -> None:
    node.watermark.ordered = False  # as in a cluster, where nodes publish concurrently
    thread = await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        # Both committed after bob connected; the later one's publication comes first.
        early = await commit_unpublished(node, thread.id, "early")
        late = await commit_unpublished(node, thread.id, "late")
        feed = session_of(node, "bob").feed
        feed.deliver(publication(late))
        feed.deliver(publication(early))
        bodies = [(await bob.next_event(Message)).body for _ in range(2)]
    assert bodies == ["early", "late"]


async def test_a_threads_first_message_owes_nothing_from_before_the_session(
    node: Node,
) -> None:
    node.watermark.ordered = False
    thread = await node.messaging.thread_for("ann", to="bob")
    await commit_unpublished(node, thread.id, "before bob connected")
    async with Client(node.ws_url, node.token("bob")) as bob:
        now = await commit_unpublished(node, thread.id, "now")
        session_of(node, "bob").feed.deliver(publication(now))
        assert (await bob.next_event(Message)).body == "now"
        await node.messaging.post(thread, "ann", "sentinel")
        assert (await bob.next_event(Message)).body == "sentinel"


async def test_in_a_cluster_a_first_sight_repair_skips_the_devices_own_acked_message(
    node: Node,
) -> None:
    node.watermark.ordered = False
    thread = await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("ann")) as ann:
        await ann.send("mine", thread=thread.id)  # acked: ann's device has it
        reply = await commit_unpublished(node, thread.id, "reply")  # seq 2, from "ann"'s
        session_of(node, "ann").feed.deliver(publication(reply))  # peer on another node
        assert (await ann.next_event(Message)).body == "reply"


async def test_a_burst_in_a_cluster_replays_nothing_the_device_has(node: Node) -> None:
    node.watermark.ordered = False  # nothing settles during the test: all of it is marked
    group = await node.messaging.create_group(["ann", "bob"], None)
    async with Client(node.ws_url, node.token("bob")) as bob:
        for i in range(100):  # far more than a cursor could ever list position by position
            await node.messaging.post(group, "ann", f"m{i}")
        for _ in range(100):
            last = await bob.next_event(Message)
        cursor = last.cursor
    await node.messaging.post(group, "ann", "after")
    async with Client(node.ws_url, node.token("bob"), cursor=cursor) as again:
        replayed = await again.next_event(Message)
        assert replayed.body == "after"
        assert isinstance(await again.next_event((Message, Synced)), Synced)
