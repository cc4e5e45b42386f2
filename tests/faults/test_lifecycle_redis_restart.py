"""Changes to messages across a Redis restart: an edit or a reaction acked while the
broker is down reaches the other node's members once it is back, once, in seq order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from protocol.frames import Ack, Message, ServerFrame, Update, Welcome
from realtime_client import Client, ClientError
from tests.fixtures.cluster import ClusterFactory, NodeProcess
from tests.fixtures.servers import RedisServer

WAIT = 20.0
"""Longest wait for one phase: bounds a failing test."""


class WireRecorder(Client):
    """A client that records every message and update as it came off the wire, before
    the client's own guard against repeats: the server's exactly-once is what is tested."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wire: list[Message | Update] = []
        self.arrived = asyncio.Event()
        self.welcomed = asyncio.Event()

    def _dispatch(self, frame: ServerFrame) -> None:
        if isinstance(frame, Message | Update):
            self.wire.append(frame)
            self.arrived.set()
        elif isinstance(frame, Welcome):
            self.welcomed.set()
        super()._dispatch(frame)

    async def send_once_connected(self, body: str, thread: str) -> Ack:
        """Send ``body``, and if the node closed the connection (it closes every session
        with 1013 when its broker comes back), send again on the next connection with the
        same ``cid``, which can never store it twice."""
        cid = f"{body}-once"
        async with asyncio.timeout(WAIT):
            while True:
                self.welcomed.clear()
                try:
                    return await self.send(body, thread=thread, cid=cid)
                except ClientError as exc:
                    if exc.code != "unavailable":
                        raise
                await self.welcomed.wait()

    async def until(self, seqs: set[int]) -> None:
        async with asyncio.timeout(WAIT):
            while not seqs <= {e.seq for e in self.wire}:
                self.arrived.clear()
                await self.arrived.wait()


async def readiness(node: NodeProcess, ready: bool) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if await node.ready() == ready:
                return
            await asyncio.sleep(0.05)  # a poll interval, not a wait for the outcome


@contextlib.asynccontextmanager
async def recorder(node: NodeProcess, user: str) -> AsyncIterator[WireRecorder]:
    client = WireRecorder(node.ws_url, node.token(user), backoff=(0.05, 0.5))
    async with client:
        yield client


async def test_changes_acked_while_redis_is_down_reach_the_other_node_once(
        cluster_factory: ClusterFactory, redis_server: RedisServer, redis_url: str,
        postgres_dsn: str) -> None:
    cluster = await cluster_factory(2, redis_url=redis_url, database_url=postgres_dsn)
    a, b = cluster
    thread = await cluster.group("ann", "ben")
    async with recorder(a, "ann") as ann, recorder(b, "ben") as ben:
        first = await ann.send("before", thread=thread)
        assert isinstance(first.seq, int)
        await ben.until({first.seq})
        await asyncio.to_thread(redis_server.stop)
        await asyncio.gather(*(readiness(n, False) for n in cluster))
        # The store is the truth: changes are acked with the broker away.
        edited = await ann.edit(thread, first.seq, "during")
        reacted = await ann.react(thread, first.seq, "🔥")
        await asyncio.to_thread(redis_server.start)
        await asyncio.gather(*(readiness(n, True) for n in cluster))
        after = await ann.send_once_connected("after", thread)
        owed = {first.seq, edited.seq, reacted.seq, after.seq}
        assert None not in owed
        await ben.until(owed)  # type: ignore[arg-type]
    got = [e.seq for e in ben.wire]
    assert sorted(set(got)) == sorted(owed) and len(got) == len(set(got)), got
    assert got == sorted(got)
    kinds = {e.seq: getattr(e, "kind", "message") for e in ben.wire}
    assert kinds[edited.seq] == "edit" and kinds[reacted.seq] == "react"  # type: ignore[index]
