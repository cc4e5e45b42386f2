"""A Redis that hangs (SIGSTOP: no reset, no error, no answer) does not hold up acks:
publishing has a deadline, the store is the truth, and nothing is lost once it thaws."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Iterator

import pytest

from realtime.broker.redis import COMMAND_TIMEOUT
from tests.fixtures.node import NodeFactory
from tests.fixtures.redis_cluster import RedisCluster
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
        own_redis: RedisServer, node_factory: NodeFactory) -> None:
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


@pytest.fixture
def own_redis_cluster() -> Iterator[RedisCluster]:
    """A Redis Cluster of this test's own, since the test freezes it."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.skip("a Redis Cluster needs redis-server and redis-cli (package redis-tools)")
    cluster = RedisCluster(server, cli)
    try:
        cluster.start()
        yield cluster
    finally:
        for process in cluster.processes:
            process.send_signal(signal.SIGCONT)
        cluster.stop()


async def test_acks_keep_coming_while_a_redis_cluster_is_frozen(
        own_redis_cluster: RedisCluster, node_factory: NodeFactory) -> None:
    # The cluster is asked for first, so that it outlives the node.
    node = await node_factory(redis_url=own_redis_cluster.url, publish_deadline=DEADLINE)
    async with wire(node, "alice") as alice:
        for process in own_redis_cluster.processes:
            process.send_signal(signal.SIGSTOP)
        try:
            async with asyncio.timeout(ACKS_WITHIN):
                for i in range(5):
                    await alice.send({"type": "send", "to": "bob", "cid": f"c{i}",
                                      "body": f"frozen {i}", "id": i})
                acks = [await alice.recv_until(id=i) for i in range(5)]
        finally:
            for process in own_redis_cluster.processes:
                process.send_signal(signal.SIGCONT)
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
