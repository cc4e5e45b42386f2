"""Groups run by their members, over real sockets on both stores: create, members,
leave and rename are entries of the thread's log (committed before the ack, live to
every member including those removed, replayed from cursors), and from its removal on a
member gets nothing more of the thread and is refused everything of it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from realtime.events import MessageEvent
from realtime.node import Node
from tests.fixtures.node import API_KEY, NodeFactory
from tests.fixtures.wire import Wire, wire


@pytest.fixture
async def node(node_on_each_store: Node) -> Node:
    return node_on_each_store


async def created(w: Wire, *members: str, title: str | None = None) -> str:
    frame: dict[str, Any] = {"type": "create", "members": list(members)}
    if title is not None:
        frame["title"] = title
    ack = await w.request(frame)
    assert ack["type"] == "ack", ack
    return str(ack["thread"])


async def refused(w: Wire, frame: dict[str, Any]) -> str:
    answer = await w.request(frame)
    assert answer["type"] == "error", answer
    return str(answer["code"])


async def nothing_more(w: Wire) -> list[dict[str, Any]]:
    """What ``w`` got until a pong: anything the node sent it first comes before."""
    start = len(w.received)
    await w.request({"type": "ping"})
    return [f for f in w.received[start:] if f["type"] != "pong"]


# -- create -------------------------------------------------------------------------------


async def test_create_makes_a_group_with_its_creator_as_admin(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob", "carol", title="trip")
        update = await bob.recv_until("update")
        assert {k: update[k] for k in ("thread", "seq", "target", "kind", "user", "added",
                                       "removed", "admins")} == {
            "thread": thread, "seq": 1, "target": None, "kind": "members", "user": "alice",
            "added": ["alice", "bob", "carol"], "removed": [], "admins": ["alice"]}
        assert "cursor" in update
        listed = await bob.request({"type": "threads"})
        (entry,) = listed["threads"]
        assert (entry["thread"], entry["kind"], entry["title"], entry["admins"],
                entry["members"], entry["muted"]) == (
            thread, "group", "trip", ["alice"], ["alice", "bob", "carol"], False)
        assert await nothing_more(alice) == []  # the creating device has the ack


async def test_create_needs_someone_besides_you(node: Node) -> None:
    async with wire(node, "alice") as alice:
        assert await refused(alice, {"type": "create", "members": []}) == "bad_request"
        assert await refused(alice, {"type": "create", "members": ["alice"]}) == "bad_request"


async def test_a_title_past_the_limit_is_too_large(node: Node) -> None:
    async with wire(node, "alice") as alice:
        frame = {"type": "create", "members": ["bob"], "title": "t" * 101}
        assert await refused(alice, frame) == "too_large"


async def test_a_group_past_its_size_limit_is_too_large(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_group=3)
    async with wire(node, "alice") as alice:
        too_many = {"type": "create", "members": ["b", "c", "d"]}
        assert await refused(alice, too_many) == "too_large"
        thread = await created(alice, "b", "c")
        assert await refused(alice, {"type": "members", "thread": thread,
                                     "add": ["d"]}) == "too_large"


async def test_groups_created_per_hour_are_limited(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_groups_per_hour=2)
    async with wire(node, "alice") as alice:
        await created(alice, "bob")
        await created(alice, "carol")
        assert await refused(alice, {"type": "create", "members": ["dan"]}) == "rate_limited"


# -- members, leave, rename ---------------------------------------------------------------


async def test_an_admin_adds_and_everyone_in_the_group_gets_the_entry(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob, \
            wire(node, "dan") as dan:
        thread = await created(alice, "bob")
        await bob.recv_until("update")
        ack = await alice.request({"type": "members", "thread": thread, "add": ["dan"]})
        assert ack["type"] == "ack" and ack["members"] == ["alice", "bob", "dan"]
        for w in (bob, dan):
            update = await w.recv_until("update")
            assert (update["seq"], update["kind"], update["added"], update["removed"]) == \
                (2, "members", ["dan"], [])
        sent = await dan.request({"type": "send", "thread": thread, "cid": "c", "body": "hi"})
        assert sent["type"] == "ack" and sent["seq"] == 3


async def test_a_member_who_is_no_admin_cannot_add_or_remove_others(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob", "carol")
        for frame in ({"type": "members", "thread": thread, "add": ["dan"]},
                      {"type": "members", "thread": thread, "remove": ["carol"]},
                      {"type": "rename", "thread": thread, "title": "mine"}):
            assert await refused(bob, frame) == "forbidden"


async def test_a_removed_member_gets_the_entry_and_nothing_after(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob")
        await bob.recv_until("update")
        await alice.request({"type": "members", "thread": thread, "remove": ["bob"]})
        removal = await bob.recv_until("update")
        assert (removal["kind"], removal["removed"], removal["user"]) == \
            ("members", ["bob"], "alice")
        await alice.request({"type": "send", "thread": thread, "cid": "c", "body": "secret"})
        await alice.request({"type": "rename", "thread": thread, "title": "without bob"})
        assert await nothing_more(bob) == []


async def test_a_session_drops_what_a_stale_node_sends_after_the_removal(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob")
        await alice.request({"type": "members", "thread": thread, "remove": ["bob"]})
        removal = await bob.recv_until("update")
        while removal["removed"] != ["bob"]:  # the group's creation comes first
            removal = await bob.recv_until("update")
        # What a node that still held bob among the members would publish next: the
        # thread's following entry, addressed to him too.
        late = MessageEvent(thread, removal["seq"] + 1, 1 << 40, "late", "alice", "after",
                            None, removal["ts"], None, None)
        await node.messaging.publish(["bob"], late)
        assert await nothing_more(bob) == []


async def test_a_removed_member_is_refused_everything_of_the_thread(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob")
        await alice.request({"type": "members", "thread": thread, "remove": ["bob"]})
        await bob.recv_until("update")
        for frame in ({"type": "send", "thread": thread, "cid": "x", "body": "hi"},
                      {"type": "history", "thread": thread},
                      {"type": "read", "thread": thread, "seq": 1},
                      {"type": "typing", "thread": thread, "on": True},
                      {"type": "leave", "thread": thread},
                      {"type": "mute", "thread": thread, "on": True},
                      {"type": "rename", "thread": thread, "title": "x"}):
            assert await refused(bob, frame) == "forbidden", frame
        listed = await bob.request({"type": "threads"})
        assert listed["threads"] == []


async def test_leave_reaches_the_others_and_the_leavers_other_devices(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob, \
            wire(node, "bob") as bob2:
        thread = await created(alice, "bob")
        await bob2.recv_until("update")
        ack = await bob.request({"type": "leave", "thread": thread})
        assert ack == {"type": "ack", "id": ack["id"], "thread": thread}
        for w in (alice, bob2):
            update = await w.recv_until("update")
            assert (update["removed"], update["user"]) == (["bob"], "bob")
        await alice.request({"type": "send", "thread": thread, "cid": "c", "body": "bye"})
        assert await nothing_more(bob) == []
        assert await nothing_more(bob2) == []


async def test_anyone_may_remove_themselves_with_members(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob", "carol")
        ack = await bob.request({"type": "members", "thread": thread, "remove": ["bob"]})
        assert ack["members"] == ["alice", "carol"]


async def test_when_the_last_admin_leaves_the_longest_standing_member_is_admin(
        node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "carol") as carol:
        thread = await created(alice, "carol")
        await alice.request({"type": "members", "thread": thread, "add": ["bob"]})
        await alice.request({"type": "leave", "thread": thread})
        update = await carol.recv_until("update")
        while update["removed"] != ["alice"]:
            update = await carol.recv_until("update")
        assert update["admins"] == ["carol"]
        ack = await carol.request({"type": "rename", "thread": thread, "title": "carol's"})
        assert ack["type"] == "ack"


async def test_rename_is_an_entry_with_the_title(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        thread = await created(alice, "bob", title="old")
        await bob.recv_until("update")
        await alice.request({"type": "rename", "thread": thread, "title": "new"})
        update = await bob.recv_until("update")
        assert (update["kind"], update["title"], update["target"], update["seq"]) == \
            ("title", "new", None, 2)
        (entry,) = (await bob.request({"type": "threads"}))["threads"]
        assert entry["title"] == "new"


async def test_a_dms_members_never_change(node: Node) -> None:
    async with wire(node, "alice") as alice:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c", "body": "hi"})
        for frame in ({"type": "members", "thread": ack["thread"], "add": ["carol"]},
                      {"type": "leave", "thread": ack["thread"]},
                      {"type": "rename", "thread": ack["thread"], "title": "x"}):
            assert await refused(alice, frame) == "bad_request"


async def test_a_stranger_is_refused_as_if_the_group_did_not_exist(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "eve") as eve:
        thread = await created(alice, "bob")
        for frame in ({"type": "members", "thread": thread, "add": ["eve"]},
                      {"type": "leave", "thread": thread},
                      {"type": "members", "thread": "g:nothing", "remove": ["eve"]}):
            assert await refused(eve, frame) == "forbidden"


# -- replay --------------------------------------------------------------------------------


async def test_membership_entries_replay_in_order_from_a_cursor(node: Node) -> None:
    async with wire(node, "bob") as bob:
        cursor = bob.welcome["cursor"]
    async with wire(node, "alice") as alice:
        thread = await created(alice, "bob")
        await alice.request({"type": "send", "thread": thread, "cid": "c", "body": "hi"})
        await alice.request({"type": "rename", "thread": thread, "title": "t"})
        await alice.request({"type": "members", "thread": thread, "remove": ["bob"]})
        await alice.request({"type": "send", "thread": thread, "cid": "d", "body": "later"})
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        frames = []
        while (frame := await bob.recv())["type"] != "synced":
            frames.append(frame)
    assert [(f["type"], f.get("kind"), f["seq"]) for f in frames] == [
        ("update", "members", 1), ("message", None, 2), ("update", "title", 3),
        ("update", "members", 4)]


# -- the HTTP API makes the same entries -----------------------------------------------------


async def test_the_http_api_makes_the_same_entries_with_user_null(node: Node) -> None:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api, \
            wire(node, "bob") as bob:
        async with api.post("/v1/threads", json={"members": ["alice", "bob"],
                                                 "title": "ops"}) as response:
            thread = (await response.json())["thread"]
        made = await bob.recv_until("update")
        assert (made["kind"], made["user"], made["added"], made["admins"]) == \
            ("members", None, ["alice", "bob"], [])
        async with api.post(f"/v1/threads/{thread}/members",
                            json={"remove": ["bob"]}) as response:
            assert (await response.json())["members"] == ["alice"]
        removal = await bob.recv_until("update")
        assert (removal["user"], removal["removed"]) == (None, ["bob"])
        async with api.get(f"/v1/threads/{thread}") as response:
            assert await response.json() == {"thread": thread, "kind": "group",
                                             "title": "ops", "members": ["alice"],
                                             "admins": []}
        async with api.get("/v1/threads/g:missing") as response:
            assert response.status == 404


async def test_get_thread_describes_a_dm(node: Node) -> None:
    async with wire(node, "alice") as alice:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c", "body": "hi"})
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api, \
            api.get(f"/v1/threads/{ack['thread']}") as response:
        assert await response.json() == {"thread": ack["thread"], "kind": "dm",
                                         "title": None, "members": ["alice", "bob"],
                                         "admins": []}


# -- moderation on one node ------------------------------------------------------------------


async def test_a_disconnect_closes_every_session_of_the_user_with_1008(node: Node) -> None:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api, \
            wire(node, "mallory") as one, wire(node, "mallory") as two, \
            wire(node, "alice") as alice:
        async with api.post("/v1/users/mallory/disconnect") as response:
            assert await response.json() == {"closed": 2}
        assert await one.closed() == 1008
        assert await two.closed() == 1008
        assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_a_disconnect_takes_a_code_and_a_reason(node: Node) -> None:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api, \
            wire(node, "mallory") as one:
        async with api.post("/v1/users/mallory/disconnect",
                            json={"code": 4001, "reason": "banned"}) as response:
            assert await response.json() == {"closed": 1}
        assert await one.closed() == 4001
