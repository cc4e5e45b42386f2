"""The smallest end-to-end check: two users chat through one node."""

import json

from websockets.asyncio.client import connect

from realtime.node import Node


async def test_a_dm_reaches_the_other_user_after_the_sender_is_acked(node: Node) -> None:
    async with (
        connect(f"{node.ws_url}?token={node.token('alice')}") as alice,
        connect(f"{node.ws_url}?token={node.token('bob')}") as bob,
    ):
        assert json.loads(await alice.recv())["type"] == "welcome"
        assert json.loads(await bob.recv())["type"] == "welcome"
        await alice.send(json.dumps({"type": "send", "to": "bob", "cid": "c1", "body": "hi",
                                     "id": 1}))
        ack = json.loads(await alice.recv())
        message = json.loads(await bob.recv())
    assert ack == {"type": "ack", "id": 1, "thread": "dm:alice:bob", "seq": 1,
                   "msg": ack["msg"], "ts": ack["ts"]}
    assert message["from"] == "alice" and message["body"] == "hi" and message["seq"] == 1
    assert "cid" not in message
