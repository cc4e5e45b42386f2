"""Every node of a cluster is drained (SIGTERM) and restarted in turn, under DM traffic
between users on different nodes: each node exits 0, and every acked message reaches
its recipient exactly once.
"""

from __future__ import annotations

import asyncio
import functools

from loadtest.scenarios.fault_traffic import (
    Member,
    RecordingClient,
    catch_up,
    stored_messages,
    verify,
)
from tests.fixtures.cluster import ClusterFactory, NodeProcess

WAIT = 20.0
"""Longest wait for one phase (a drain, a restart, some acks): bounds a failing test."""
INTERVAL = 0.05
"""Seconds between two sends of one member: well inside the per-connection rate limit."""
PER_PHASE = 3
"""Sends each member gets acked before the drains and after each restart."""


def member(node: NodeProcess, user: str, to: str) -> Member:
    return Member(user, RecordingClient(node.ws_url, node.token(user), backoff=(0.05, 0.5)),
                  to=to)


async def test_a_rolling_drain_of_every_node_loses_and_doubles_nothing(
        cluster_factory: ClusterFactory, redis_url: str, postgres_dsn: str) -> None:
    cluster = await cluster_factory(3, redis_url=redis_url, database_url=postgres_dsn)
    nodes = list(cluster)
    members = []
    for pair in range(3):
        here, there = nodes[pair], nodes[(pair + 1) % 3]
        members += [member(here, f"a{pair}", f"b{pair}"), member(there, f"b{pair}", f"a{pair}")]
    for one in members:
        await one.client.connect()
        one.start()
    stop = asyncio.Event()
    traffic = [asyncio.create_task(one.run(stop, INTERVAL, WAIT)) for one in members]
    exit_codes = []
    try:
        await asyncio.gather(*(one.acks(PER_PHASE, WAIT) for one in members))
        for node in nodes:
            exit_codes.append(await node.terminate())
            await node.start()
            await asyncio.gather(*(one.acks(PER_PHASE, WAIT) for one in members))
    finally:
        stop.set()
        await asyncio.gather(*traffic)
    try:
        owed = {one.to or "": {(m.thread, m.seq) for m in one.acked} for one in members}
        clients = {one.user: one.client for one in members}
        await catch_up(clients, owed, WAIT)
        acked = [m for one in members for m in one.acked]
        get = functools.partial(cluster.call, nodes[0], "GET")
        stored = [s for t in sorted({m.thread for m in acked})
                  for s in await stored_messages(get, t)]
        verdict = verify(acked, stored, owed, {u: c.wire for u, c in clients.items()})
        reconnected = [one.user for one in members if one.client.welcomes > 1]
    finally:
        await asyncio.gather(*(one.close() for one in members))
    assert exit_codes == [0, 0, 0]
    assert sorted(reconnected) == sorted(one.user for one in members)
    assert not any(one.unacked for one in members)
    assert (verdict.lost, verdict.duplicated) == (0, 0), verdict.as_dict()
