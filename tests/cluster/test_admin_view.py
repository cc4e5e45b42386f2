"""The admin view of a 2-node cluster: each node lists both, a user's sessions on either
node are listed by both, and a crashed node drops out with its sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.fixtures.cluster import Cluster, ClusterFactory, NodeProcess

HEARTBEAT = 0.2
"""Seconds between heartbeats in these tests: a node is gone after three missed."""


@pytest.fixture
async def cluster(cluster_factory: ClusterFactory, broker_url: str,
                  postgres_dsn: str) -> AsyncIterator[Cluster]:
    yield await cluster_factory(2, redis_url=broker_url, database_url=postgres_dsn,
                                node_heartbeat=HEARTBEAT)


async def until(cluster: Cluster, node: NodeProcess, path: str,
                check: Callable[[Any], bool]) -> Any:
    """Ask ``node`` for ``path`` until ``check`` holds for the answer (other nodes are
    heard of once per heartbeat), and return that answer."""
    async with asyncio.timeout(15):
        while True:
            answer = await cluster.call(node, "GET", path)
            if check(answer):
                return answer
            await asyncio.sleep(HEARTBEAT / 4)


def node_ids(body: Any) -> list[str]:
    return [n["node"] for n in body["nodes"]]


async def test_every_node_lists_every_live_node(cluster: Cluster) -> None:
    a, b = cluster
    expected = sorted([a.node_id, b.node_id])
    for node in (a, b):
        body = await until(cluster, node, "/v1/nodes", lambda x: node_ids(x) == expected)
        assert all(n["version"] and n["started"] <= n["heartbeat"] for n in body["nodes"])


async def test_a_users_sessions_on_both_nodes_are_listed_by_either(cluster: Cluster) -> None:
    a, b = cluster
    async with cluster.client(a, "alice") as on_a, cluster.client(b, "alice") as on_b:
        assert on_a.welcome is not None and on_b.welcome is not None
        sessions = {on_a.welcome.session: a.node_id, on_b.welcome.session: b.node_id}
        for node in (a, b):
            body = await until(cluster, node, "/v1/users/alice/sessions",
                               lambda x: len(x["sessions"]) == 2)
            assert {s["session"]: s["node"] for s in body["sessions"]} == sessions
        counts = await until(cluster, a, "/v1/nodes",
                             lambda x: all(n["sessions"] == 1 for n in x["nodes"]))
        assert [n["users"] for n in counts["nodes"]] == [1, 1]


async def test_a_crashed_node_drops_out_with_its_sessions(cluster: Cluster) -> None:
    a, b = cluster
    async with cluster.client(b, "bob", reconnect=False):
        await until(cluster, a, "/v1/users/bob/sessions", lambda x: len(x["sessions"]) == 1)
        await b.kill()
        await until(cluster, a, "/v1/nodes", lambda x: node_ids(x) == [a.node_id])
        body = await cluster.call(a, "GET", "/v1/users/bob/sessions")
    assert body == {"sessions": []}
