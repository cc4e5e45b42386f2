"""Blocking and muting, over real sockets on both stores.

While A blocks B: B's send to their DM is forbidden, B cannot follow A's presence and
stops getting it, B cannot add A to a group; groups they share are unaffected; only A
sees the block. A muted thread is never pushed to the user who muted it (until
``until``), while live delivery is unchanged, and ``threads`` shows the mute.
"""

from __future__ import annotations

import aiohttp
import pytest

from realtime.node import Node
from tests.fixtures.fake_fcm import FcmSetup
from tests.fixtures.node import API_KEY, NodeFactory
from tests.fixtures.wire import Wire, wire


@pytest.fixture
async def node(node_on_each_store: Node) -> Node:
    return node_on_each_store


async def refused(w: Wire, frame: dict[str, object]) -> str:
    answer = await w.request(frame)
    assert answer["type"] == "error", answer
    return str(answer["code"])


async def ok(w: Wire, frame: dict[str, object]) -> dict[str, object]:
    answer = await w.request(frame)
    assert answer["type"] == "ack", answer
    return answer


async def dm(a: Wire, b: str) -> str:
    ack = await ok(a, {"type": "send", "to": b, "cid": "first", "body": "hi"})
    return str(ack["thread"])


# -- blocking ------------------------------------------------------------------------------


async def test_a_blocked_user_cannot_send_to_the_blockers_dm(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "ben") as ben:
        thread = await dm(ben, "ann")
        await ok(ann, {"type": "block", "user": "ben", "on": True})
        assert await refused(ben, {"type": "send", "to": "ann", "cid": "a",
                                   "body": "x"}) == "forbidden"
        assert await refused(ben, {"type": "send", "thread": thread, "cid": "b",
                                   "body": "x"}) == "forbidden"
        # The blocker still may, and an unblock lets the other one again.
        await ok(ann, {"type": "send", "to": "ben", "cid": "c", "body": "still me"})
        await ok(ann, {"type": "block", "user": "ben", "on": False})
        await ok(ben, {"type": "send", "to": "ann", "cid": "d", "body": "thanks"})


async def test_a_blocked_user_cannot_follow_the_blockers_presence(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "ben") as ben:
        await dm(ben, "ann")
        await ok(ann, {"type": "block", "user": "ben", "on": True})
        assert await refused(ben, {"type": "subscribe",
                                   "topic": "presence:ann"}) == "forbidden"
        await ok(ann, {"type": "block", "user": "ben", "on": False})
        await ok(ben, {"type": "subscribe", "topic": "presence:ann"})


async def test_a_follower_stops_getting_the_presence_of_who_blocks_them(node: Node) -> None:
    async with wire(node, "ben") as ben, wire(node, "cat") as cat:
        async with wire(node, "ann") as ann:
            await dm(ben, "ann")
            await dm(cat, "ann")
            for w in (ben, cat):
                await ok(w, {"type": "subscribe", "topic": "presence:ann"})
            followed = len(ben.received)
            await ok(ann, {"type": "block", "user": "ben", "on": True})
        # ann went offline: cat is told, ben is not.
        offline = await cat.recv_until("presence")
        assert (offline["user"], offline["online"]) == ("ann", False)
        await ben.request({"type": "ping"})  # anything sent to ben would come first
        assert [f for f in ben.received[followed:] if f["type"] == "presence"] == []


async def test_a_blocked_user_cannot_add_the_blocker_to_a_group(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "ben") as ben:
        await ok(ann, {"type": "block", "user": "ben", "on": True})
        assert await refused(ben, {"type": "create", "members": ["ann", "cat"]}) == \
            "forbidden"
        made = await ok(ben, {"type": "create", "members": ["cat"]})
        assert await refused(ben, {"type": "members", "thread": made["thread"],
                                   "add": ["ann"]}) == "forbidden"


async def test_shared_groups_are_unaffected(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "ben") as ben:
        made = await ok(ann, {"type": "create", "members": ["ben"]})
        await ok(ann, {"type": "block", "user": "ben", "on": True})
        await ok(ben, {"type": "send", "thread": made["thread"], "cid": "g", "body": "hi"})
        message = await ann.recv_until("message")
        assert message["body"] == "hi"


async def test_only_the_blocker_sees_the_block(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "ben") as ben:
        thread = await dm(ben, "ann")
        await ok(ann, {"type": "block", "user": "ben", "on": True})
        (mine,) = (await ann.request({"type": "threads"}))["threads"]
        (theirs,) = (await ben.request({"type": "threads"}))["threads"]
        assert mine["blocked"] is True
        assert "blocked" not in theirs
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api, \
            api.get(f"/v1/threads/{thread}") as response:
        assert "blocked" not in await response.json()


async def test_blocking_oneself_is_a_bad_request(node: Node) -> None:
    async with wire(node, "ann") as ann:
        assert await refused(ann, {"type": "block", "user": "ann", "on": True}) == \
            "bad_request"


# -- muting ----------------------------------------------------------------------------------


async def test_threads_shows_a_mute_until_a_time_or_for_good(node: Node) -> None:
    async with wire(node, "ann") as ann:
        thread = await dm(ann, "ben")
        await ok(ann, {"type": "mute", "thread": thread, "on": True})
        (entry,) = (await ann.request({"type": "threads"}))["threads"]
        assert entry["muted"] is True
        until = 4_000_000_000_000
        await ok(ann, {"type": "mute", "thread": thread, "on": True, "until": until})
        (entry,) = (await ann.request({"type": "threads"}))["threads"]
        assert entry["muted"] == until
        await ok(ann, {"type": "mute", "thread": thread, "on": False})
        (entry,) = (await ann.request({"type": "threads"}))["threads"]
        assert entry["muted"] is False


async def test_a_mute_that_ended_shows_false(node: Node) -> None:
    async with wire(node, "ann") as ann:
        thread = await dm(ann, "ben")
        await ok(ann, {"type": "mute", "thread": thread, "on": True, "until": 1})
        (entry,) = (await ann.request({"type": "threads"}))["threads"]
        assert entry["muted"] is False


async def test_only_members_mute(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "eve") as eve:
        thread = await dm(ann, "ben")
        assert await refused(eve, {"type": "mute", "thread": thread, "on": True}) == \
            "forbidden"


async def test_a_muted_thread_is_still_delivered_live(node: Node) -> None:
    async with wire(node, "ann") as ann, wire(node, "ben") as ben:
        thread = await dm(ann, "ben")
        await ben.recv_until("message")
        await ok(ben, {"type": "mute", "thread": thread, "on": True})
        await ok(ann, {"type": "send", "thread": thread, "cid": "m", "body": "still here"})
        assert (await ben.recv_until("message"))["body"] == "still here"


async def test_no_push_of_a_muted_thread_while_muted(
        database_url: str, node_factory: NodeFactory, fake_fcm: FcmSetup) -> None:
    if database_url:
        from realtime.store.migrate import migrate

        await migrate(database_url)
    node = await node_factory(database_url=database_url,
                              fcm_credentials=str(fake_fcm.credentials_path),
                              fcm_endpoint=fake_fcm.endpoint)
    await node.store.add_device("ben", "tok-ben", "android")
    async with wire(node, "ben") as ben:
        quiet = await ok(ben, {"type": "create", "members": ["ann"], "title": "noisy"})
        await ok(ben, {"type": "mute", "thread": quiet["thread"], "on": True})
        ended = await dm(ben, "ann")
        await ok(ben, {"type": "mute", "thread": ended, "on": True, "until": 1})
    # Posted through the HTTP API, whose handler runs in a task of its own.
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api:
        for thread, body in ((quiet["thread"], "muted"), (ended, "sentinel")):
            async with api.post(f"/v1/threads/{thread}/messages",
                                json={"from": "ann", "body": body}) as response:
                assert response.status == 200
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-ben") >= 1)
    # Pushes are sent in order: the muted group's message, queued first, would be first.
    bodies = [p.message["notification"]["body"] for p in fake_fcm.fake.sends_to("tok-ben")]
    assert bodies == ["sentinel"]
