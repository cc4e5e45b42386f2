"""Pushes of the life of a message, through a running node and the fake FCM: a reaction
to an offline user's message is pushed (never one's own), edits and unsends never are,
and an unsent message's push not yet sent is dropped."""

from __future__ import annotations

from typing import Any

from realtime.node import Node
from tests.fixtures.fake_fcm import FcmSetup, Reply
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import Wire, wire


async def push_node(node_factory: NodeFactory, fcm: FcmSetup) -> Node:
    node = await node_factory(fcm_credentials=str(fcm.credentials_path),
                              fcm_endpoint=fcm.endpoint)
    await node.store.add_device("bob", "tok-bob", "android")
    await node.store.add_device("ann", "tok-ann", "android")
    return node


async def send(w: Wire, to: str, body: str, **fields: Any) -> dict[str, Any]:
    return await w.request({"type": "send", "to": to, "cid": body, "body": body, **fields})


def kinds(fcm: FcmSetup, token: str) -> list[str]:
    return [push.message["data"]["kind"] for push in fcm.fake.sends_to(token)]


async def test_a_reaction_to_an_offline_sender_s_message_is_pushed(
        node_factory: NodeFactory, fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    async with wire(node, "bob") as bob:
        ack = await send(bob, "ann", "look at this")
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-ann") == 1)
    async with wire(node, "ann") as ann:
        await ann.request({"type": "react", "thread": ack["thread"], "seq": ack["seq"],
                           "emoji": "😍", "on": True})
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)
    (push,) = fake_fcm.fake.sends_to("tok-bob")
    assert push.message["data"] == {"kind": "reaction", "thread": ack["thread"],
                                    "seq": str(ack["seq"]), "user": "ann", "emoji": "😍"}
    assert push.message["notification"]["body"] == "look at this"


async def test_no_push_for_a_reaction_to_one_s_own_message_nor_for_unreacting(
        node_factory: NodeFactory, fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    async with wire(node, "bob") as bob:
        ack = await send(bob, "ann", "mine")
        target = {"thread": ack["thread"], "seq": ack["seq"]}
        await bob.request({"type": "react", **target, "emoji": "👍", "on": True})
    async with wire(node, "ann") as ann:
        await ann.request({"type": "react", **target, "emoji": "👍", "on": True})
        await ann.request({"type": "react", **target, "emoji": "👍", "on": False})
        await send(ann, "bob", "sentinel")  # bob's pushes, in order, end with this one
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 2)
    assert kinds(fake_fcm, "tok-bob") == ["reaction", "message"]


async def test_edits_and_unsends_are_never_pushed(node_factory: NodeFactory,
                                                  fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    async with wire(node, "ann") as ann:
        ack = await send(ann, "bob", "first")
        await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)
        target = {"thread": ack["thread"], "seq": ack["seq"]}
        await ann.request({"type": "edit", **target, "body": "first, edited"})
        await ann.request({"type": "unsend", **target})
        await send(ann, "bob", "sentinel")
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 2)
    pushes = fake_fcm.fake.sends_to("tok-bob")
    assert [p.message["data"]["kind"] for p in pushes] == ["message", "message"]
    assert pushes[1].message["notification"]["body"] == "sentinel"


async def test_an_unsent_message_s_waiting_push_leaves_the_outbox(
        node_factory: NodeFactory, fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    assert node.push is not None
    # FCM is unavailable for a while: the push waits in the outbox for its retries.
    fake_fcm.fake.script("tok-bob", *[Reply.error(503, "UNAVAILABLE")] * 5)
    async with wire(node, "ann") as ann:
        ack = await send(ann, "bob", "sent by mistake")
        await fake_fcm.fake.wait_for(lambda: len(fake_fcm.fake.sends_to("tok-bob")) >= 1)
        assert await node.push.outbox.depth() == 1
        await ann.request({"type": "unsend", "thread": ack["thread"], "seq": ack["seq"]})
        # By the unsend's ack the job, and the text it carried, are gone.
        assert await node.push.outbox.depth() == 0
    assert fake_fcm.fake.delivered_to("tok-bob") == 0
