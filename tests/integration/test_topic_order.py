"""Topics keep their order on the wire: a subscribe's current state comes before its
ack, and once an unsubscribe is acked no frame of that topic reaches the session."""

from __future__ import annotations

from realtime.node import Node
from tests.fixtures.wire import wire


async def test_a_posts_count_comes_before_the_subscribe_ack(node: Node) -> None:
    await node.services.likes.like("ann", "p1", True)
    async with wire(node, "bob") as bob:
        await bob.send({"type": "subscribe", "id": 1, "topic": "post:p1"})
        first = await bob.recv()
        second = await bob.recv()
    assert first == {"type": "likes", "post": "p1", "count": 1}
    assert second == {"type": "ack", "id": 1}


async def test_a_users_presence_comes_before_the_subscribe_ack(node: Node) -> None:
    async with wire(node, "bob") as bob:
        await bob.send({"type": "subscribe", "id": 1, "topic": "presence:bob"})
        first = await bob.recv()
        second = await bob.recv()
    assert (first["type"], first["user"], first["online"]) == ("presence", "bob", True)
    assert second == {"type": "ack", "id": 1}


async def test_nothing_of_a_post_follows_its_unsubscribe_ack(node: Node) -> None:
    await node.services.likes.like("ann", "p1", True)
    async with wire(node, "bob") as bob, wire(node, "cat") as cat:
        await cat.request({"type": "subscribe", "topic": "post:p1"})
        # Subscribe and unsubscribe at once, without waiting for either answer.
        await bob.send({"type": "subscribe", "id": 1, "topic": "post:p1"})
        await bob.send({"type": "unsubscribe", "id": 2, "topic": "post:p1"})
        await bob.recv_until("ack", id=2)
        await node.services.likes.like("ann", "p1", False)
        # cat, still following, sees the change; the same publication would have been
        # queued for bob before the answer to a ping sent after it.
        while (await cat.recv_until("likes"))["count"] != 0:
            pass
        await bob.request({"type": "ping"})
    after = bob.received[bob.received.index({"type": "ack", "id": 2}) + 1:]
    assert [f["type"] for f in after] == ["pong"]
