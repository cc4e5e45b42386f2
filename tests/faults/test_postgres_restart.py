"""PostgreSQL stops and starts under traffic: sends answer ``unavailable`` while it is
down, nothing acked is lost, and the nodes recover by themselves.

The database server is the test's own (it is stopped and started), with data kept
across the restart; Redis and the nodes are the usual fixtures.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest

from loadtest.scenarios.fault_traffic import (
    Member,
    RecordingClient,
    catch_up,
    stored_messages,
    verify,
)
from loadtest.servers import PostgresProcess
from realtime_client import ClientError
from tests.fixtures.cluster import Cluster, ClusterFactory, NodeProcess

WAIT = 20.0
"""Longest wait for one phase (a restart, a readiness change): bounds a failing test."""
INTERVAL = 0.05
"""Seconds between two sends of one member: well inside the per-connection rate limit."""
PER_PHASE = 5
"""Sends each member gets acked before and after the outage."""


@pytest.fixture
async def postgres() -> AsyncIterator[PostgresProcess]:
    """A PostgreSQL server of this test's own, which it may stop and start."""
    server = PostgresProcess(max_connections=100)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.remove)


async def start_cluster(cluster_factory: ClusterFactory, postgres: PostgresProcess,
                        redis_url: str) -> Cluster:
    dsn = await asyncio.to_thread(postgres.create_database, "faults")
    return await cluster_factory(2, redis_url=redis_url, database_url=dsn)


async def readiness(nodes: Cluster, ready: bool) -> None:
    """Return once every node's ``/readyz`` says ``ready``."""

    async def one(node: NodeProcess) -> None:
        while True:
            if await node.ready() == ready:
                return
            await asyncio.sleep(0.05)  # a poll interval, not a wait for the outcome

    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(one(node) for node in nodes))


def member(node: NodeProcess, user: str, to: str) -> Member:
    return Member(user, RecordingClient(node.ws_url, node.token(user), backoff=(0.05, 0.5)),
                  to=to)


async def test_sends_answer_unavailable_while_postgres_is_down_and_the_nodes_recover(
        cluster_factory: ClusterFactory, postgres: PostgresProcess, redis_url: str) -> None:
    cluster = await start_cluster(cluster_factory, postgres, redis_url)
    a, _ = cluster
    async with cluster.client(a, "ann") as ann:
        await ann.send("before", to="ben")
        await asyncio.to_thread(postgres.stop, "fast")
        await readiness(cluster, False)
        with pytest.raises(ClientError) as refused:
            await ann.send("while down", to="ben")
        still_connected = ann.connected
        await asyncio.to_thread(postgres.start)
        # Nothing restarts the nodes: they find the database again by themselves.
        await readiness(cluster, True)
        after = await ann.send("after", to="ben")
    assert refused.value.code == "unavailable"
    assert still_connected, "an unavailable store must not cost the client its connection"
    assert after.seq is not None


async def test_every_acked_message_reaches_its_recipient_once_across_a_postgres_restart(
        cluster_factory: ClusterFactory, postgres: PostgresProcess, redis_url: str) -> None:
    cluster = await start_cluster(cluster_factory, postgres, redis_url)
    a, b = cluster
    members = [member(a, "ann", "ben"), member(b, "ben", "ann"),
               member(b, "cat", "dan"), member(a, "dan", "cat")]
    stop = asyncio.Event()
    for one in members:
        await one.client.connect()
        one.start()
    traffic = [asyncio.create_task(one.run(stop, INTERVAL, WAIT)) for one in members]
    try:
        await asyncio.gather(*(one.acks(PER_PHASE, WAIT) for one in members))
        await asyncio.to_thread(postgres.stop, "fast")
        async with asyncio.timeout(WAIT):
            # Every member's sends failed at least once: the outage was felt by all.
            await asyncio.gather(*(one.refused.wait() for one in members))
        await asyncio.to_thread(postgres.start)
        await readiness(cluster, True)
        await asyncio.gather(*(one.acks(PER_PHASE, WAIT) for one in members))
    finally:
        stop.set()
        await asyncio.gather(*traffic)
    try:
        owed = {one.to or "": {(m.thread, m.seq) for m in one.acked} for one in members}
        clients = {one.user: one.client for one in members}
        await catch_up(clients, owed, WAIT)
        acked = [m for one in members for m in one.acked]
        get = functools.partial(cluster.call, a, "GET")
        stored = [s for t in sorted({m.thread for m in acked})
                  for s in await stored_messages(get, t)]
        verdict = verify(acked, stored, owed, {u: c.wire for u, c in clients.items()})
    finally:
        await asyncio.gather(*(one.close() for one in members))
    assert not any(one.unacked for one in members)
    assert {code for one in members for code in one.errors} == {"unavailable"}
    assert (verdict.lost, verdict.duplicated) == (0, 0), verdict.as_dict()
