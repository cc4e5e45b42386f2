"""Push through a running node, to a local fake of FCM HTTP v1 driven by the real sender."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from protocol.frames import Message, Notification
from realtime.node import Node
from realtime_client import Client
from tests.fixtures.fake_fcm import FcmSetup
from tests.fixtures.node import API_KEY, NodeFactory


async def push_node(node_factory: NodeFactory, fcm: FcmSetup, **settings: object) -> Node:
    settings.setdefault("fcm_endpoint", fcm.endpoint)
    node = await node_factory(fcm_credentials=str(fcm.credentials_path), **settings)
    await node.store.add_device("bob", "tok-bob", "android")
    await node.store.add_device("cy", "tok-cy", "ios")
    return node


async def test_an_offline_recipient_gets_exactly_one_push(node_factory: NodeFactory,
                                                          fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    async with Client(node.ws_url, node.token("ann")) as ann:
        ack = await ann.send("are you there?", to="bob")
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)
    (push,) = fake_fcm.fake.sends_to("tok-bob")
    message = push.message
    assert (message["data"]["kind"], message["data"]["thread"]) == ("message", ack.thread)
    assert all(isinstance(v, str) for v in message["data"].values())
    assert message["notification"] == {"title": "ann", "body": "are you there?"}
    assert message["android"]["collapse_key"] == message["apns"]["headers"]["apns-collapse-id"]


async def test_an_online_recipient_gets_no_push(node_factory: NodeFactory,
                                                fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    async with Client(node.ws_url, node.token("ann")) as ann, \
            Client(node.ws_url, node.token("cy")) as cy:
        await ann.send("live", to="cy")
        await cy.next_event(Message)
        await ann.send("then bob", to="bob")  # a sentinel: bob's push comes after cy's none
        await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)
    assert fake_fcm.fake.sends_to("tok-cy") == []


async def test_notify_with_push_reports_who_was_pushed(node_factory: NodeFactory,
                                                       fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    async with Client(node.ws_url, node.token("cy")) as cy, \
            aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http:
        async with http.post(f"{node.api_url}/v1/notify", json={
            "users": ["bob", "cy", "dan"], "data": {"order": "42"},
            "push": {"title": "Shipped", "body": "Your order is on its way"},
        }) as response:
            answer = await response.json()
        await cy.next_event(Notification)
    # bob is offline with a device; cy is live; dan has no device.
    assert (answer["live"], answer["pushed"]) == (["cy"], ["bob"])
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)


async def test_a_like_is_pushed_to_an_offline_owner(node_factory: NodeFactory,
                                                    fake_fcm: FcmSetup) -> None:
    node = await push_node(node_factory, fake_fcm)
    await node.services.likes.set_owner("p1", "bob")
    await node.services.likes.like("ann", "p1", True)
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)
    (push,) = fake_fcm.fake.sends_to("tok-bob")
    assert (push.message["data"]["kind"], push.message["data"]["post"]) == ("like", "p1")


async def test_a_push_queued_before_a_restart_is_sent_after_it(
    node_factory: NodeFactory, fake_fcm: FcmSetup, tmp_path: Path,
) -> None:
    data_dir = tmp_path / "restarted"
    # FCM is unreachable for the first node: the push waits in the durable outbox.
    first = await push_node(node_factory, fake_fcm, data_dir=data_dir,
                            fcm_endpoint="http://127.0.0.1:9")
    async with Client(first.ws_url, first.token("ann")) as ann:
        await ann.send("while FCM was down", to="bob")
    await first.close()
    await push_node(node_factory, fake_fcm, data_dir=data_dir)
    await fake_fcm.fake.wait_for(lambda: fake_fcm.fake.delivered_to("tok-bob") == 1)
    assert len(fake_fcm.fake.sends_to("tok-bob")) == 1


async def test_an_acked_message_leaves_no_push_undecided(node_factory: NodeFactory,
                                                         fake_fcm: FcmSetup,
                                                         database_url: str) -> None:
    # On both stores: PostgreSQL's pool cannot be used outside a task, so a decision
    # made in the commit's callback failed there and was left to the recovery sweep.
    if database_url:
        from realtime.store.migrate import migrate

        await migrate(database_url)
    node = await push_node(node_factory, fake_fcm, database_url=database_url)
    assert node.push is not None
    async with Client(node.ws_url, node.token("ann")) as ann, \
            Client(node.ws_url, node.token("cy")) as cy:
        await ann.send("to someone live", to="cy")
        await ann.send("to someone away", to="bob")
        await cy.next_event(Message)
        # The commits recorded both pushes as owed; both were decided before the acks.
        assert await node.push.outbox.owed(2**62, 10) == []
