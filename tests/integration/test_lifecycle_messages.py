"""The life of a message over real sockets, on both stores: edit, unsend, react, reply_to
and attachments. Each change is an entry of the thread's log: the acting device gets the
ack, the members' other devices the ``update``, and a reconnect replays it in order.
"""

from __future__ import annotations

from typing import Any

import pytest

from realtime.node import Node
from tests.fixtures.wire import MSGPACK, Wire, wire

PHOTO = {"url": "https://cdn.example.com/p/1.jpg", "type": "image/jpeg", "size": 2048,
         "width": 640, "height": 480, "name": "beach.jpg",
         "thumb": "https://cdn.example.com/p/1-small.jpg"}


@pytest.fixture
async def node(node_on_each_store: Node) -> Node:
    return node_on_each_store


async def sent(w: Wire, to: str, body: str = "hello", **fields: Any) -> dict[str, Any]:
    ack = await w.request({"type": "send", "to": to, "cid": f"c-{body}", "body": body,
                           **fields})
    assert ack["type"] == "ack", ack
    return ack


async def error_code(w: Wire, frame: dict[str, Any]) -> str:
    answer = await w.request(frame)
    assert answer["type"] == "error", answer
    return str(answer["code"])


# -- the acting device gets the ack, the other devices the update --------------------------


async def test_an_edit_is_acked_to_its_device_and_an_update_to_the_others(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "alice") as alice2, \
            wire(node, "bob") as bob:
        ack = await sent(alice, "bob", "helo")
        await bob.recv_until("message")
        await alice2.recv_until("message")
        edited = await alice.request({"type": "edit", "thread": ack["thread"],
                                      "seq": ack["seq"], "body": "hello"})
        assert edited == {"type": "ack", "id": edited["id"], "thread": ack["thread"],
                          "seq": ack["seq"] + 1, "target": ack["seq"]}
        for device in (bob, alice2):
            update = await device.recv_until("update")
            assert {k: update[k] for k in ("thread", "seq", "target", "kind", "user", "body")} \
                == {"thread": ack["thread"], "seq": ack["seq"] + 1, "target": ack["seq"],
                    "kind": "edit", "user": "alice", "body": "hello"}
            assert "cursor" in update and isinstance(update["ts"], int)
        await alice.request({"type": "ping"})
        assert not [f for f in alice.received if f.get("type") == "update"]


async def test_a_reaction_reaches_every_member_with_its_emoji(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob")
        await bob.recv_until("message")
        reacted = await bob.request({"type": "react", "thread": ack["thread"],
                                     "seq": ack["seq"], "emoji": "👍", "on": True})
        assert (reacted["seq"], reacted["target"]) == (ack["seq"] + 1, ack["seq"])
        update = await alice.recv_until("update")
        assert (update["kind"], update["emoji"], update["on"], update["user"]) == \
            ("react", "👍", True, "bob")


async def test_a_reaction_already_in_place_acks_seq_null_and_sends_nothing(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob")
        frame = {"type": "react", "thread": ack["thread"], "seq": ack["seq"], "emoji": "🎉",
                 "on": True}
        await bob.request(frame)
        again = await bob.request(frame)
        assert again["type"] == "ack" and again["seq"] is None
        assert again["target"] == ack["seq"]
        off = await bob.request({**frame, "emoji": "😮", "on": False})
        assert off["seq"] is None
        await alice.recv_until("update")
        await alice.request({"type": "ping"})
        assert len([f for f in alice.received if f.get("type") == "update"]) == 1


async def test_an_unsent_message_is_gone_from_history_and_threads(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob", "oops", meta={"k": 1}, attachments=[PHOTO])
        await bob.request({"type": "react", "thread": ack["thread"], "seq": ack["seq"],
                           "emoji": "👍", "on": True})
        gone = await alice.request({"type": "unsend", "thread": ack["thread"],
                                    "seq": ack["seq"]})
        assert gone["target"] == ack["seq"] and gone["seq"] == ack["seq"] + 2
        update = await bob.recv_until("update")
        while update["kind"] != "unsend":
            update = await bob.recv_until("update")
        assert update["target"] == ack["seq"] and "body" not in update
        page = await bob.request({"type": "history", "thread": ack["thread"]})
        (shown,) = page["messages"]
        assert shown["deleted"] is True and shown["body"] == ""
        assert shown["meta"] is None
        assert "attachments" not in shown and "reactions" not in shown
        (entry,) = (await bob.request({"type": "threads"}))["threads"]
        assert entry["last"]["deleted"] is True and entry["last"]["body"] == ""


# -- authority -----------------------------------------------------------------------------


async def test_only_the_sender_may_edit_or_unsend(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob")
        target = {"thread": ack["thread"], "seq": ack["seq"]}
        assert await error_code(bob, {"type": "edit", **target, "body": "x"}) == "forbidden"
        assert await error_code(bob, {"type": "unsend", **target}) == "forbidden"


@pytest.mark.parametrize("kind", ["edit", "unsend", "react"])
async def test_a_missing_or_unsent_target_is_not_found(node: Node, kind: str) -> None:
    extra = {"edit": {"body": "x"}, "unsend": {}, "react": {"emoji": "👍", "on": True}}[kind]
    async with wire(node, "alice") as alice, wire(node, "bob"):
        ack = await sent(alice, "bob")
        missing = {"type": kind, "thread": ack["thread"], "seq": 99, **extra}
        assert await error_code(alice, missing) == "not_found"
        await alice.request({"type": "unsend", "thread": ack["thread"], "seq": ack["seq"]})
        unsent = {**missing, "seq": ack["seq"]}
        assert await error_code(alice, unsent) == "not_found"


async def test_a_change_in_a_thread_one_is_not_in_is_forbidden(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "mallory") as mallory:
        ack = await sent(alice, "bob")
        frame = {"type": "react", "thread": ack["thread"], "seq": ack["seq"], "emoji": "👍",
                 "on": True}
        assert await error_code(mallory, frame) == "forbidden"
        assert await error_code(mallory, {**frame, "thread": "dm:no:body"}) == "forbidden"


async def test_a_retried_edit_gets_the_same_ack(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob"):
        ack = await sent(alice, "bob", "draft")
        frame = {"type": "edit", "thread": ack["thread"], "seq": ack["seq"], "body": "final"}
        first = await alice.request(frame)
        again = await alice.request(frame)
        assert again["seq"] == first["seq"] == ack["seq"] + 1


# -- replies and attachments ---------------------------------------------------------------


async def test_a_reply_with_attachments_reaches_the_members_as_sent(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob", subprotocol=MSGPACK) as bob:
        first = await sent(alice, "bob", "look")
        await bob.recv_until("message")
        await sent(alice, "bob", "this one", reply_to=first["seq"], attachments=[PHOTO])
        message = await bob.recv_until("message")
        assert message["reply_to"] == first["seq"] and message["attachments"] == [PHOTO]
        page = await bob.request({"type": "history", "thread": first["thread"]})
        assert page["messages"][1]["attachments"] == [PHOTO]
        assert page["messages"][1]["reply_to"] == first["seq"]


@pytest.mark.parametrize("reply_to", [2, 99])
async def test_reply_to_naming_no_message_of_the_thread_is_bad_request(node: Node,
                                                                       reply_to: int) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        first = await sent(alice, "bob")
        await bob.request({"type": "react", "thread": first["thread"], "seq": first["seq"],
                           "emoji": "👍", "on": True})  # seq 2: an entry, not a message
        frame = {"type": "send", "to": "bob", "cid": "r", "body": "re", "reply_to": reply_to}
        assert await error_code(alice, frame) == "bad_request"
        page = await alice.request({"type": "history", "thread": first["thread"]})
        assert len(page["messages"]) == 1


async def test_a_reply_to_a_message_of_another_thread_is_bad_request(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob"), wire(node, "carol"):
        await sent(alice, "carol", "elsewhere")
        await sent(alice, "carol", "elsewhere 2")
        frame = {"type": "send", "to": "bob", "cid": "r", "body": "re", "reply_to": 2}
        assert await error_code(alice, frame) == "bad_request"


async def test_a_bad_attachment_is_refused_and_nothing_is_sent(node: Node) -> None:
    async with wire(node, "alice") as alice:
        frame = {"type": "send", "to": "bob", "cid": "x", "body": "",
                 "attachments": [{**PHOTO, "url": "http://insecure.example.com/a.jpg"}]}
        assert await error_code(alice, frame) == "bad_request"
        assert (await alice.request({"type": "threads"}))["threads"] == []


# -- folded state ----------------------------------------------------------------------------


async def test_history_folds_edits_and_reactions_into_messages(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob", "v1")
        target = {"thread": ack["thread"], "seq": ack["seq"]}
        await alice.request({"type": "edit", **target, "body": "v2", "meta": {"e": 1}})
        await bob.request({"type": "react", **target, "emoji": "👍", "on": True})
        await alice.request({"type": "react", **target, "emoji": "👍", "on": True})
        await bob.request({"type": "react", **target, "emoji": "😂", "on": True})
        page = await bob.request({"type": "history", "thread": ack["thread"]})
        (shown,) = page["messages"]
        assert (shown["seq"], shown["body"], shown["meta"]) == (ack["seq"], "v2", {"e": 1})
        assert isinstance(shown["edited"], int)
        assert shown["reactions"] == {"👍": ["bob", "alice"], "😂": ["bob"]}
        (entry,) = (await bob.request({"type": "threads"}))["threads"]
        assert entry["last"]["body"] == "v2" and entry["last"]["reactions"]["😂"] == ["bob"]
        assert entry["unread"] == 1


# -- replay ----------------------------------------------------------------------------------


async def test_a_reconnect_replays_edits_unsends_and_reactions_in_order(node: Node) -> None:
    async with wire(node, "bob") as bob:
        cursor = bob.welcome["cursor"]
    async with wire(node, "alice") as alice:
        one = await sent(alice, "bob", "one")
        two = await sent(alice, "bob", "two")
        thread = one["thread"]
        await alice.request({"type": "edit", "thread": thread, "seq": one["seq"],
                             "body": "one!"})
        await alice.request({"type": "react", "thread": thread, "seq": two["seq"],
                             "emoji": "👍", "on": True})
        await alice.request({"type": "unsend", "thread": thread, "seq": two["seq"]})
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        synced = await bob.recv_until("synced")
        replayed = [f for f in bob.received if f["type"] in ("message", "update")]
    assert [(f["type"], f["seq"], f.get("kind")) for f in replayed] == [
        ("message", 1, None), ("message", 2, None), ("update", 3, "edit"),
        ("update", 4, "react"), ("update", 5, "unsend")]
    # Read from the store as it is now: the unsent message comes erased.
    assert replayed[1]["deleted"] is True and replayed[1]["body"] == ""
    assert replayed[0]["body"] == "one!" and replayed[2]["body"] == "one!"
    assert synced["cursor"] == replayed[-1]["cursor"]
    async with wire(node, "bob", query={"cursor": synced["cursor"]}) as bob:
        await bob.recv_until("synced")
        assert not [f for f in bob.received if f["type"] in ("message", "update")]


async def test_sync_replays_updates_like_messages(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob")
        cursor = (await bob.recv_until("message"))["cursor"]
        await alice.request({"type": "react", "thread": ack["thread"], "seq": ack["seq"],
                             "emoji": "❤️", "on": True})
        live = await bob.recv_until("update")
        await bob.send({"type": "sync", "cursor": cursor, "id": "s"})
        synced = await bob.recv_until("synced")
        replayed = bob.received[bob.received.index(live) + 1:]
        assert [f["type"] for f in replayed] == ["update", "synced"]
        assert replayed[0]["seq"] == live["seq"] and synced["cursor"] == live["cursor"]


async def test_a_live_update_after_a_message_arrives_in_seq_order(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob", "a")
        await alice.request({"type": "edit", "thread": ack["thread"], "seq": ack["seq"],
                             "body": "b"})
        await sent(alice, "bob", "c")
        frames = [await bob.recv_until() for _ in range(3)]
        assert [(f["type"], f["seq"]) for f in frames] == [
            ("message", 1), ("update", 2), ("message", 3)]


async def test_an_eleventh_emoji_on_one_message_is_too_large(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        ack = await sent(alice, "bob")
        frame = {"type": "react", "thread": ack["thread"], "seq": ack["seq"], "on": True}
        for i in range(10):
            assert (await bob.request({**frame, "emoji": f"e{i}"}))["type"] == "ack"
        assert await error_code(bob, {**frame, "emoji": "e10"}) == "too_large"
