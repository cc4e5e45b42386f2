"""History pages, the thread list with unread counts, and read pointers with receipts."""

from __future__ import annotations

import asyncio

from realtime.node import Node
from realtime.store.base import Thread
from tests.fixtures.wire import wire


async def seed(node: Node, thread: Thread, sender: str, count: int, *, start: int = 0) -> None:
    """Commit ``count`` messages from ``sender``, numbered from ``start``, in one go."""
    await asyncio.gather(*(
        node.messaging.post(thread, sender, f"m{i}", cid=f"{sender}-{i}")
        for i in range(start, start + count)
    ))


async def history(node: Node, user: str, thread: str, **query: int) -> dict:
    async with wire(node, user) as w:
        return await w.request({"type": "history", "thread": thread, **query})


# -- history -------------------------------------------------------------------------


async def test_history_gives_the_newest_page_first_in_ascending_seq(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 7)
    page = await history(node, "bob", dm.id, limit=3)
    assert [m["seq"] for m in page["messages"]] == [5, 6, 7]
    assert page["thread"] == dm.id and page["more"] is True


async def test_history_before_is_exclusive(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 7)
    page = await history(node, "bob", dm.id, before=5, limit=3)
    assert [m["seq"] for m in page["messages"]] == [2, 3, 4]


async def test_history_says_no_more_on_the_oldest_page(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 7)
    page = await history(node, "bob", dm.id, before=3, limit=3)
    assert [m["seq"] for m in page["messages"]] == [1, 2]
    assert page["more"] is False


async def test_history_pages_walk_back_to_the_first_message(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 10)
    seqs: list[int] = []
    async with wire(node, "bob") as bob:
        query: dict[str, int] = {"limit": 4}
        while True:
            page = await bob.request({"type": "history", "thread": dm.id, **query})
            seqs = [m["seq"] for m in page["messages"]] + seqs
            if not page["more"]:
                break
            query["before"] = page["messages"][0]["seq"]
    assert seqs == list(range(1, 11))


async def test_history_limit_defaults_to_50(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 60)
    page = await history(node, "bob", dm.id)
    assert [m["seq"] for m in page["messages"]] == list(range(11, 61))
    assert page["more"] is True


async def test_history_limit_is_clamped_to_200(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 210)
    page = await history(node, "bob", dm.id, limit=1000)
    assert [m["seq"] for m in page["messages"]] == list(range(11, 211))


async def test_history_messages_carry_the_message_fields(node: Node) -> None:
    async with wire(node, "alice") as alice:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi",
                                   "meta": {"k": [1, 2]}})
    page = await history(node, "bob", ack["thread"])
    (m,) = page["messages"]
    assert {k: m[k] for k in ("thread", "seq", "msg", "from", "body", "meta", "ts")} == {
        "thread": ack["thread"], "seq": 1, "msg": ack["msg"], "from": "alice", "body": "hi",
        "meta": {"k": [1, 2]}, "ts": ack["ts"]}


async def test_history_of_an_empty_thread_is_empty(node: Node) -> None:
    group = await node.messaging.create_group(["alice", "bob"], None)
    page = await history(node, "alice", group.id)
    assert page["messages"] == [] and page["more"] is False


# -- the thread list -----------------------------------------------------------------


async def test_threads_lists_members_and_the_last_message(node: Node) -> None:
    async with wire(node, "alice") as alice:
        for i in range(3):
            await alice.request({"type": "send", "to": "bob", "cid": f"c{i}", "body": f"m{i}"})
        listing = await alice.request({"type": "threads"})
    (entry,) = listing["threads"]
    assert entry["thread"] == "dm:alice:bob"
    assert sorted(entry["members"]) == ["alice", "bob"]
    assert (entry["last"]["seq"], entry["last"]["body"]) == (3, "m2")


async def test_threads_count_unread_messages_from_others_only(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 3)
    await seed(node, dm, "bob", 2)
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        (for_alice,) = (await alice.request({"type": "threads"}))["threads"]
        (for_bob,) = (await bob.request({"type": "threads"}))["threads"]
    assert (for_alice["unread"], for_bob["unread"]) == (2, 3)


async def test_reading_lowers_the_unread_count(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 5)
    async with wire(node, "bob") as bob:
        await bob.request({"type": "read", "thread": dm.id, "seq": 3})
        (entry,) = (await bob.request({"type": "threads"}))["threads"]
    assert entry["unread"] == 2


async def test_a_new_user_has_no_threads(node: Node) -> None:
    async with wire(node, "newcomer") as w:
        assert (await w.request({"type": "threads"}))["threads"] == []


async def test_threads_list_group_threads_too(node: Node) -> None:
    group = await node.messaging.create_group(["ann", "ben", "cat"], "trio")
    async with wire(node, "cat") as cat:
        listing = await cat.request({"type": "threads"})
    (entry,) = listing["threads"]
    assert entry["thread"] == group.id and sorted(entry["members"]) == ["ann", "ben", "cat"]
    assert entry["last"] is None and entry["unread"] == 0


# -- read pointers and receipts ------------------------------------------------------


async def test_read_is_acked_with_the_pointer(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 5)
    async with wire(node, "bob") as bob:
        ack = await bob.request({"type": "read", "thread": dm.id, "seq": 4})
    assert (ack["type"], ack["thread"], ack["seq"]) == ("ack", dm.id, 4)


async def test_read_never_moves_the_pointer_backwards(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 5)
    async with wire(node, "bob") as bob:
        await bob.request({"type": "read", "thread": dm.id, "seq": 4})
        ack = await bob.request({"type": "read", "thread": dm.id, "seq": 2})
        (entry,) = (await bob.request({"type": "threads"}))["threads"]
    assert ack["seq"] == 4 and entry["unread"] == 1


async def test_read_never_moves_the_pointer_past_the_last_message(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 3)
    async with wire(node, "bob") as bob:
        ack = await bob.request({"type": "read", "thread": dm.id, "seq": 99})
    await seed(node, dm, "alice", 2, start=3)
    async with wire(node, "bob") as bob:
        (entry,) = (await bob.request({"type": "threads"}))["threads"]
    assert ack["seq"] == 3 and entry["unread"] == 2


async def test_the_other_members_get_the_receipt(node: Node) -> None:
    group = await node.messaging.create_group(["ann", "ben", "cat"], None)
    await seed(node, group, "ann", 3)
    async with wire(node, "ann") as ann, wire(node, "ben") as ben, wire(node, "cat") as cat:
        await ben.request({"type": "read", "thread": group.id, "seq": 2})
        got = [await ann.recv_until("receipt"), await cat.recv_until("receipt")]
    for receipt in got:
        assert {k: receipt[k] for k in ("thread", "user", "seq")} == {
            "thread": group.id, "user": "ben", "seq": 2}


async def test_the_readers_other_devices_get_the_receipt(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 3)
    async with wire(node, "bob") as phone, wire(node, "bob") as laptop:
        await phone.request({"type": "read", "thread": dm.id, "seq": 3})
        receipt = await laptop.recv_until("receipt")
        await phone.request({"type": "ping"})  # a receipt for it would have come first
    assert (receipt["user"], receipt["seq"]) == ("bob", 3)
    assert [f["type"] for f in phone.received] == ["ack", "pong"]
