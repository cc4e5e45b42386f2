"""Nothing lost across reconnects: replay from a cursor, exactly once, in order, then live."""

from __future__ import annotations

import asyncio

import pytest

from protocol.frames import Message, Synced
from realtime.node import Node
from realtime.store.base import Thread
from realtime_client import Client
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import Wire, refusal, wire


@pytest.fixture
async def node(node_on_each_store: Node) -> Node:
    """Every test here runs against both stores."""
    return node_on_each_store


async def seed(node: Node, thread: Thread, sender: str, count: int, *, body: str = "x",
               start: int = 0) -> None:
    """Commit ``count`` messages from ``sender`` in one go."""
    await asyncio.gather(*(
        node.messaging.post(thread, sender, body, cid=f"{sender}-{i}")
        for i in range(start, start + count)
    ))


async def cursor_now(node: Node, user: str) -> str:
    """The cursor a client of ``user`` holds after connecting now."""
    async with wire(node, user) as w:
        return str(w.welcome["cursor"])


async def until_synced(w: Wire) -> tuple[list[dict], dict]:
    """The messages replayed before ``synced``, and ``synced``."""
    replayed = []
    while (frame := await w.recv())["type"] != "synced":
        if frame["type"] == "message":
            replayed.append(frame)
    return replayed, frame


async def test_a_reconnect_with_a_cursor_replays_what_was_missed_then_synced(
    node: Node,
) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "bob")
    await seed(node, dm, "alice", 5)
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        replayed, synced = await until_synced(bob)
    assert [m["seq"] for m in replayed] == [1, 2, 3, 4, 5]
    assert "id" not in synced
    assert synced["cursor"] == replayed[-1]["cursor"]


async def test_the_x_cursor_header_replays_like_the_query(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "bob")
    await seed(node, dm, "alice", 3)
    async with wire(node, "bob", headers={"X-Cursor": cursor}) as bob:
        replayed, _ = await until_synced(bob)
    assert [m["seq"] for m in replayed] == [1, 2, 3]


async def test_replayed_messages_each_carry_a_cursor(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "bob")
    await seed(node, dm, "alice", 3)
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        replayed, _ = await until_synced(bob)
    cursors = [m["cursor"] for m in replayed]
    assert len(set(cursors)) == 3 and cursors[0] != cursor


async def test_reconnecting_with_the_last_cursor_replays_nothing_again(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "bob")
    await seed(node, dm, "alice", 4)
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        _, synced = await until_synced(bob)
    async with wire(node, "bob", query={"cursor": synced["cursor"]}) as bob:
        replayed, again = await until_synced(bob)
    assert replayed == [] and again["cursor"] == synced["cursor"]


async def test_a_replay_carries_every_thread_of_the_user_and_no_other(node: Node) -> None:
    with_alice = await node.store.ensure_dm("alice", "bob")
    group = await node.messaging.create_group(["bob", "cat", "dan"], None)
    elsewhere = await node.store.ensure_dm("cat", "dan")
    cursor = await cursor_now(node, "bob")
    for i in range(3):
        await seed(node, with_alice, "alice", 1, start=i)
        await seed(node, elsewhere, "cat", 1, start=i)
        await seed(node, group, "dan", 1, start=i)
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        replayed, _ = await until_synced(bob)
    by_thread: dict[str, list[int]] = {}
    for m in replayed:
        by_thread.setdefault(m["thread"], []).append(m["seq"])
    assert by_thread == {with_alice.id: [1, 2, 3], group.id: [2, 3, 4]}  # 1: the creation


async def test_replayed_own_messages_carry_their_cid(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "alice")
    await node.messaging.post(dm, "alice", "mine", cid="c-mine")
    await node.messaging.post(dm, "bob", "theirs", cid="c-theirs")
    async with wire(node, "alice", query={"cursor": cursor}) as alice:
        replayed, _ = await until_synced(alice)
    assert [m.get("cid") for m in replayed] == ["c-mine", None]


async def test_live_messages_follow_a_replay(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "bob")
    await seed(node, dm, "alice", 2)
    async with wire(node, "bob", query={"cursor": cursor}) as bob, wire(node, "alice") as alice:
        await until_synced(bob)
        await alice.request({"type": "send", "to": "bob", "cid": "live", "body": "live"})
        live = await bob.recv_until("message")
    assert (live["seq"], live["body"]) == (3, "live") and "cursor" in live


async def test_a_sync_request_replays_then_answers_synced_with_its_id(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    async with wire(node, "bob") as bob:
        cursor = bob.welcome["cursor"]
        await seed(node, dm, "alice", 3)
        live = await bob.messages(3)
        await bob.send({"type": "sync", "cursor": cursor, "id": "s1"})
        replayed, synced = await until_synced(bob)
    assert [m["seq"] for m in replayed] == [1, 2, 3]
    assert synced["id"] == "s1" and synced["cursor"] == live[-1]["cursor"]


async def test_a_sync_without_cursor_answers_synced_with_now(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    async with wire(node, "bob") as bob:
        await seed(node, dm, "alice", 3)
        live = await bob.messages(3)
        mark = len(bob.received)
        synced = await bob.request({"type": "sync", "id": 7})
    assert synced["type"] == "synced" and synced["id"] == 7
    assert synced["cursor"] == live[-1]["cursor"]
    assert [f["type"] for f in bob.received[mark:]] == ["synced"]


async def test_the_welcome_cursor_is_now(node: Node) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    await seed(node, dm, "alice", 3)
    async with wire(node, "bob", query={"cursor": "0"}) as bob:
        _, synced = await until_synced(bob)
        welcome_cursor = bob.welcome["cursor"]
    assert welcome_cursor == synced["cursor"]


async def test_a_malformed_cursor_in_the_query_refuses_the_handshake(node: Node) -> None:
    status, body = await refusal(node, token=node.token("bob"), cursor="not-a-cursor")
    assert status == 400 and body["code"] == "bad_request" and body["message"]


async def test_a_malformed_cursor_header_refuses_the_handshake(node: Node) -> None:
    status, body = await refusal(
        node, headers={"Authorization": f"Bearer {node.token('bob')}", "X-Cursor": "-1"})
    assert status == 400 and body["code"] == "bad_request"


async def test_a_sync_with_a_malformed_cursor_is_a_bad_request(node: Node) -> None:
    async with wire(node, "bob") as bob:
        error = await bob.request({"type": "sync", "cursor": "12ab", "id": 3})
        pong = await bob.request({"type": "ping"})
    assert (error["type"], error["code"], error["id"]) == ("error", "bad_request", 3)
    assert pong["type"] == "pong"


async def test_a_replay_larger_than_the_send_queue_completes(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_queue=64 * 1024)
    dm = await node.store.ensure_dm("alice", "bob")
    cursor = await cursor_now(node, "bob")
    await seed(node, dm, "alice", 300, body="y" * 2000)  # ~600 KB: ten times the queue
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        replayed, _ = await until_synced(bob)
    assert [m["seq"] for m in replayed] == list(range(1, 301))


async def test_messages_sent_during_a_replay_arrive_once_and_after_what_preceded_them(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_rate=10_000.0, limit_burst=10_000)
    group = await node.messaging.create_group(["alice", "bob", "carol"], None)
    cursor = await cursor_now(node, "bob")
    backlog, during = 3000, 100
    # Bigger than every buffer between the node and the test together, so the replay
    # is still running (held back by bob's full queue) while carol sends.
    await seed(node, group, "alice", backlog, body="z" * 2000)
    async with wire(node, "bob", query={"cursor": cursor}, max_queue=16) as bob, \
            wire(node, "carol") as carol:

        async def carol_sends(start: int, stop: int) -> None:
            for i in range(start, stop):
                await carol.request({"type": "send", "thread": group.id, "cid": f"c{i}",
                                     "body": f"carol {i}"})

        await carol_sends(0, during // 2)  # while bob reads nothing
        frames: list[dict] = []
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(carol_sends(during // 2, during))  # while he reads
            while sum(f["type"] == "message" for f in frames) < backlog + during:
                frames.append(await bob.recv())
        await bob.request({"type": "ping"})  # anything duplicated would precede the pong
        frames += bob.received[len(frames):]
    seqs = [f["seq"] for f in frames if f["type"] == "message"]
    assert seqs == list(range(2, backlog + during + 2))  # seq 1: the group's creation
    assert [f["type"] for f in frames].count("synced") == 1
    carols = [f["body"] for f in frames if f["type"] == "message" and f["from"] == "carol"]
    assert carols == [f"carol {i}" for i in range(during)]


async def test_our_client_gets_what_it_missed_while_disconnected(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_sessions=1)
    before = set(node._handlers)
    async with Client(node.ws_url, node.token("bob"), backoff=(0.5, 0.5)) as bob:
        (handler,) = set(node._handlers) - before
        async with wire(node, "alice") as alice:
            for i in range(3):
                await alice.request({"type": "send", "to": "bob", "cid": f"a{i}",
                                     "body": f"{i}"})
            seqs = [(await bob.next_event(Message)).seq for _ in range(3)]
            (session,) = [s for s in node._sessions if s.user == "bob"]
            session.close(1013, "reconnect and sync")
            await asyncio.wait({handler}, timeout=10)
            # Bob's only place is taken until alice has sent, so these are missed for
            # sure; the client retries every half second until it gets back in.
            async with wire(node, "bob"):
                for i in range(3, 6):
                    await alice.request({"type": "send", "to": "bob", "cid": f"a{i}",
                                         "body": f"{i}"})
            seqs += [(await bob.next_event(Message)).seq for _ in range(3)]
        await bob.next_event(Synced)  # the replay is complete
        assert bob.close_code == 1013
    assert seqs == [1, 2, 3, 4, 5, 6]


async def test_a_reconnect_with_any_live_cursor_replays_exactly_what_came_after_it(
    node_factory: NodeFactory,
) -> None:
    # Messages of several threads arrive interleaved; whichever message a client saw
    # last, its cursor must cover everything before it and nothing after it.
    node = await node_factory(limit_rate=10_000.0, limit_burst=10_000)
    senders, per_sender = ("alice", "carol", "dan"), 40
    total = len(senders) * per_sender
    async with wire(node, "bob") as bob, wire(node, "alice") as alice, \
            wire(node, "carol") as carol, wire(node, "dan") as dan:

        async def burst(w: Wire, user: str) -> None:
            for i in range(per_sender):
                await w.send({"type": "send", "to": "bob", "cid": f"{user}{i}", "body": "x"})

        await asyncio.gather(*(burst(w, u) for w, u in zip((alice, carol, dan), senders,
                                                             strict=True)))
        received = await bob.messages(total)
    for k in (0, total // 3, total // 2, total - 2, total - 1):
        async with wire(node, "bob", query={"cursor": received[k]["cursor"]}) as again:
            replayed, _ = await until_synced(again)
        assert sorted(m["msg"] for m in replayed) == sorted(m["msg"] for m in received[k + 1:])
