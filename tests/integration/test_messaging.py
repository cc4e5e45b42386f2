"""Sending on one node: acked means durable, per-thread order, delivery to every device."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from realtime.node import Node
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import Wire, wire


@pytest.fixture
async def node(node_on_each_store: Node) -> Node:
    """Every test here runs against both stores."""
    return node_on_each_store


async def no_message_before_pong(w: Wire) -> None:
    """Fail if a ``message`` reaches ``w`` before the answer to a ping sent now: frames
    from one connection are answered in order, so the pong is the sentinel."""
    mark = len(w.received)
    await w.request({"type": "ping"})
    assert [f for f in w.received[mark:] if f["type"] == "message"] == []


# -- acked means durable -------------------------------------------------------------


async def test_the_ack_carries_the_thread_seq_msg_and_ts(node: Node) -> None:
    async with wire(node, "alice") as alice:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
    assert ack["type"] == "ack"
    assert ack["thread"] == "dm:alice:bob" and ack["seq"] == 1
    assert isinstance(ack["msg"], str) and ack["msg"]
    assert isinstance(ack["ts"], int) and ack["ts"] > 1_600_000_000_000


async def test_a_nul_character_fails_only_its_own_send(node: Node) -> None:
    # PostgreSQL cannot store U+0000: were it let through, it would fail the whole group
    # commit, and with it the messages other users sent at the same moment.
    async with wire(node, "alice") as alice, wire(node, "carol") as carol:
        await alice.send({"type": "send", "to": "bob", "cid": "c1", "body": "a\x00b", "id": 1})
        await carol.send({"type": "send", "to": "bob", "cid": "c2", "body": "hi", "id": 2})
        error = await alice.recv_until("error")
        ack = await carol.recv_until("ack")
    assert (error["code"], error["id"]) == ("bad_request", 1)
    assert (ack["id"], ack["seq"]) == (2, 1)


async def test_a_resend_with_the_same_cid_returns_the_original(node: Node) -> None:
    async with wire(node, "alice") as alice:
        first = await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        again = await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
    assert {k: again[k] for k in ("thread", "seq", "msg", "ts")} == {
        k: first[k] for k in ("thread", "seq", "msg", "ts")}


async def test_a_resend_with_the_same_cid_reaches_the_recipient_once(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        for _ in range(3):
            await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        await alice.request({"type": "send", "to": "bob", "cid": "c2", "body": "next"})
        received = await bob.messages(2)
    assert [(m["seq"], m["body"]) for m in received] == [(1, "hi"), (2, "next")]


async def test_a_resend_with_the_same_cid_stores_nothing_new(node: Node) -> None:
    async with wire(node, "alice") as alice:
        for _ in range(3):
            await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        page = await alice.request({"type": "history", "thread": "dm:alice:bob"})
    assert [m["seq"] for m in page["messages"]] == [1]


async def test_resends_in_flight_together_are_stored_once(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        for i in range(5):  # no waiting for acks: they may share one commit
            await alice.send({"type": "send", "to": "bob", "cid": "same", "body": "hi",
                              "id": i})
        acks = [await alice.recv_until("ack") for _ in range(5)]
        await alice.request({"type": "send", "to": "bob", "cid": "next", "body": "next"})
        received = await bob.messages(2)
    assert {(a["seq"], a["msg"]) for a in acks} == {(1, acks[0]["msg"])}
    assert [(m["seq"], m["body"]) for m in received] == [(1, "hi"), (2, "next")]


async def test_acked_messages_survive_a_restart_on_the_same_data_dir(
    node_factory: NodeFactory, tmp_path: Path,
) -> None:
    first = await node_factory(data_dir=tmp_path / "kept")
    async with wire(first, "alice") as alice:
        acks = [await alice.request({"type": "send", "to": "bob", "cid": f"c{i}",
                                     "body": f"m{i}"}) for i in range(5)]
    await first.close()
    second = await node_factory(data_dir=tmp_path / "kept")
    async with wire(second, "bob") as bob:
        page = await bob.request({"type": "history", "thread": "dm:alice:bob"})
    assert [(m["seq"], m["msg"], m["body"]) for m in page["messages"]] == [
        (a["seq"], a["msg"], f"m{i}") for i, a in enumerate(acks)]


async def test_seq_continues_after_a_restart_on_the_same_data_dir(
    node_factory: NodeFactory, tmp_path: Path,
) -> None:
    first = await node_factory(data_dir=tmp_path / "kept")
    async with wire(first, "alice") as alice:
        for i in range(3):
            await alice.request({"type": "send", "to": "bob", "cid": f"c{i}", "body": "x"})
    await first.close()
    second = await node_factory(data_dir=tmp_path / "kept")
    async with wire(second, "alice") as alice:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "after", "body": "y"})
        again = await alice.request({"type": "send", "to": "bob", "cid": "c0", "body": "x"})
    assert ack["seq"] == 4
    assert again["seq"] == 1  # idempotency keys survive the restart too


# -- per-thread order ----------------------------------------------------------------


async def test_concurrent_senders_to_a_group_give_every_member_gapless_seq(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_rate=1000.0, limit_burst=1000)
    senders, per_sender = ("ann", "ben", "cat"), 40
    group = await node.messaging.create_group([*senders, "dan"], "order")
    async with wire(node, "ann") as ann, wire(node, "ben") as ben, wire(node, "cat") as cat, \
            wire(node, "dan") as dan:

        async def burst(w: Wire, user: str) -> None:
            for i in range(per_sender):
                await w.send({"type": "send", "thread": group.id, "cid": f"{user}{i}",
                              "body": f"{user} {i}", "id": i})

        await asyncio.gather(burst(ann, "ann"), burst(ben, "ben"), burst(cat, "cat"))
        total = len(senders) * per_sender
        seen = {"dan": [m["seq"] for m in await dan.messages(total)]}
        for w, user in ((ann, "ann"), (ben, "ben"), (cat, "cat")):
            # A sender's own messages come back as acks, the others' as messages.
            seqs: list[int] = []
            while len(seqs) < total:
                frame = await w.recv_until()
                if frame["type"] in ("ack", "message"):
                    seqs.append(frame["seq"])
            seen[user] = seqs
    # seq 1 is the group's creation, an entry made before anyone connected.
    assert seen["dan"] == list(range(2, total + 2))
    for user in senders:
        assert sorted(seen[user]) == list(range(2, total + 2))
        messages = [f["seq"] for f in (ann, ben, cat)[senders.index(user)].received
                    if f["type"] == "message"]
        assert messages == sorted(messages)


async def test_one_connections_rapid_sends_keep_their_order(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=1000.0, limit_burst=1000)
    count = 100
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        for i in range(count):  # no waiting for acks in between
            await alice.send({"type": "send", "to": "bob", "cid": f"c{i}", "body": str(i),
                              "id": i})
        acks = {}
        while len(acks) < count:
            frame = await alice.recv_until("ack")
            acks[frame["id"]] = frame["seq"]
        received = await bob.messages(count)
    assert [acks[i] for i in range(count)] == list(range(1, count + 1))
    assert [m["body"] for m in received] == [str(i) for i in range(count)]


# -- delivery ------------------------------------------------------------------------


async def test_every_device_of_the_recipient_gets_the_message_without_cid(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as phone, \
            wire(node, "bob") as laptop:
        await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        got = [await phone.recv_until("message"), await laptop.recv_until("message")]
    for m in got:
        assert (m["from"], m["body"], m["seq"]) == ("alice", "hi", 1)
        assert "cid" not in m


async def test_the_senders_other_devices_get_the_message_with_its_cid(node: Node) -> None:
    async with wire(node, "alice") as phone, wire(node, "alice") as laptop:
        ack = await phone.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        m = await laptop.recv_until("message")
    assert (m["from"], m["cid"], m["seq"], m["msg"]) == ("alice", "c1", 1, ack["msg"])


async def test_the_sending_device_gets_only_the_ack(node: Node) -> None:
    async with wire(node, "alice") as phone, wire(node, "alice") as laptop:
        await phone.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        await laptop.recv_until("message")  # delivery to alice's sessions has happened
        await no_message_before_pong(phone)


async def test_every_device_of_every_group_member_gets_the_message(node: Node) -> None:
    group = await node.messaging.create_group(["ann", "ben", "cat"], "trio")
    async with wire(node, "ann") as ann, wire(node, "ann") as ann2, \
            wire(node, "ben") as ben, wire(node, "ben") as ben2, wire(node, "cat") as cat:
        ack = await ann.request({"type": "send", "thread": group.id, "cid": "g1",
                                 "body": "hello all"})
        got = {name: await w.recv_until("message")
               for name, w in (("ann2", ann2), ("ben", ben), ("ben2", ben2), ("cat", cat))}
    assert ack["thread"] == group.id
    assert {name: (m["thread"], m["seq"], m["body"]) for name, m in got.items()} == {
        name: (group.id, 2, "hello all") for name in got}  # seq 1: the group's creation
    assert got["ann2"]["cid"] == "g1" and "cid" not in got["ben"]


async def test_a_non_member_gets_nothing_of_a_group(node: Node) -> None:
    group = await node.messaging.create_group(["ann", "ben"], "pair")
    async with wire(node, "ann") as ann, wire(node, "eve") as eve:
        await ann.request({"type": "send", "thread": group.id, "cid": "g1", "body": "secret"})
        await no_message_before_pong(eve)


async def test_a_dm_with_oneself_is_a_notes_thread(node: Node) -> None:
    async with wire(node, "alice") as phone, wire(node, "alice") as laptop:
        ack = await phone.request({"type": "send", "to": "alice", "cid": "n1", "body": "note"})
        m = await laptop.recv_until("message")
        listing = await phone.request({"type": "threads"})
    assert ack["thread"] == "dm:alice:alice" and ack["seq"] == 1
    assert (m["thread"], m["cid"]) == ("dm:alice:alice", "n1")
    (entry,) = listing["threads"]
    assert entry["thread"] == "dm:alice:alice" and entry["members"] == ["alice"]


async def test_two_devices_opening_the_same_dm_at_once_meet_in_one_thread(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        a, b = await asyncio.gather(
            alice.request({"type": "send", "to": "bob", "cid": "a1", "body": "hi bob"}),
            bob.request({"type": "send", "to": "alice", "cid": "b1", "body": "hi alice"}),
        )
    assert a["thread"] == b["thread"] == "dm:alice:bob"
    assert sorted([a["seq"], b["seq"]]) == [1, 2]
