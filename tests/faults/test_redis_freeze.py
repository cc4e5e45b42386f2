"""A Redis that hangs (SIGSTOP: no reset, no error, no answer) does not hold up acks:
publishing has a deadline, the store is the truth, and nothing is lost once it thaws."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from realtime.broker.redis import COMMAND_TIMEOUT
from tests.fixtures.node import NodeFactory
from tests.fixtures.servers import RedisServer
from tests.fixtures.wire import wire

DEADLINE = 0.5
ACKS_WITHIN = 4.0
"""Seconds all acks may take while Redis is frozen: past the deadline, and well before
redis-py's own command timeout would have let them go."""
assert ACKS_WITHIN < COMMAND_TIMEOUT


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, since the test freezes it."""
    if os.environ.get("REDIS_URL"):
        pytest.skip("freezes a Redis server of its own; REDIS_URL names a shared one")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        assert server.process is not None
        server.process.send_signal(signal.SIGCONT)
        server.stop()


async def test_acks_keep_coming_while_redis_is_frozen_and_nothing_is_lost(
        node_factory: NodeFactory, own_redis: RedisServer) -> None:
    node = await node_factory(redis_url=own_redis.url, publish_deadline=DEADLINE)
    async with wire(node, "bob") as bob:
        cursor = bob.welcome["cursor"]
    async with wire(node, "alice") as alice:
        assert own_redis.process is not None
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            async with asyncio.timeout(ACKS_WITHIN):
                # All at once: each waits out the deadline on its own publication.
                for i in range(5):
                    await alice.send({"type": "send", "to": "bob", "cid": f"c{i}",
                                      "body": f"frozen {i}", "id": i})
                acks = [await alice.recv_until(id=i) for i in range(5)]
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
    assert [a["type"] for a in acks] == ["ack"] * 5
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
    # Bob, back from where he was, gets every acked message once, in order.
    async with wire(node, "bob", query={"cursor": cursor}) as bob:
        await bob.recv_until("synced")
        got = [f for f in bob.received if f["type"] == "message"]
    assert [(m["seq"], m["body"]) for m in got] == [(i + 1, f"frozen {i}") for i in range(5)]
