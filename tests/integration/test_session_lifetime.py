"""A session that ended is freed at once, by reference counting.

The node makes the cyclic garbage collector rare (``realtime.gc_tuning``): a session
kept alive by a reference cycle would hold its connection's memory (aiohttp's request,
response, reader and writer) until the next full collection, and a churn of
connections would make the node's memory climb between collections. These tests turn
the collector off and wait for the session object to be freed.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from protocol.errors import CloseCode
from realtime.node import Node
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import WAIT, wire


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def watch_session(node: Node, user: str) -> asyncio.Event:
    """An event set when ``user``'s one session on ``node`` is freed, with the
    connection's aiohttp objects: it watches the WebSocket response the session holds
    (the session itself takes no weak references)."""
    [session] = [s for s in node.hub.sessions() if s.user == user]
    freed = asyncio.Event()
    weakref.finalize(session._ws, freed.set)  # type: ignore[attr-defined]
    return freed


@pytest.mark.usefixtures("no_cyclic_collector")
async def test_a_session_the_client_closes_is_freed_without_the_collector(node: Node) -> None:
    async with wire(node, "alice") as alice:
        ack = await alice.request({"type": "send", "to": "bob", "body": "hi", "cid": "c1"})
        assert ack["type"] == "ack"
        freed = watch_session(node, "alice")
    await asyncio.wait_for(freed.wait(), WAIT)


@pytest.mark.usefixtures("no_cyclic_collector")
async def test_a_session_the_node_closes_is_freed_without_the_collector(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_rate=0.001, limit_burst=1)
    async with wire(node, "alice") as alice:
        freed = watch_session(node, "alice")
        # The first frame spends the one token; the rest are strikes until the node
        # closes the connection for abuse.
        for _ in range(300):
            await alice.send({"type": "ping"})
        assert await alice.closed() == CloseCode.POLICY_VIOLATION
    await asyncio.wait_for(freed.wait(), WAIT)
