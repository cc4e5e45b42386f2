"""Redis restarts under traffic: no acked message is lost, and the nodes keep serving.

While Redis is down, sends are still acked (the store is the truth) and ``/readyz``
answers 503; when it is back, each node closes its sessions with 1013, clients reconnect
with their cursor, and every acked message reaches every recipient exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from protocol.frames import Message, ServerFrame, Welcome
from realtime_client import Client, ClientError
from tests.fixtures.cluster import ClusterFactory, NodeProcess
from tests.fixtures.servers import RedisServer

WAIT = 20.0
"""Longest wait for one phase (a restart, a readiness change): bounds a failing test."""
PACE = 0.05
"""Seconds between two sends of one sender: well inside the per-connection rate limit."""
PER_PHASE = 5
"""Sends each sender gets acked before, during and after the outage."""


class WireRecorder(Client):
    """A client that also records every ``message`` frame as it came off the wire, before
    the client's own guard against repeats: the server's exactly-once is what is tested."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wire: list[Message] = []
        self.arrived = asyncio.Event()

    def _dispatch(self, frame: ServerFrame) -> None:
        if isinstance(frame, Message):
            self.wire.append(frame)
            self.arrived.set()
        super()._dispatch(frame)

    def seen(self) -> set[tuple[str, int]]:
        return {(m.thread, m.seq) for m in self.wire}


@dataclass
class Sender:
    """Sends numbered messages to one thread until stopped, each retried with its own
    ``cid`` until acked (a retry of a stored message returns the original)."""

    name: str
    client: WireRecorder
    thread: str
    acked: list[tuple[str, int]] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        number = 0
        while not stop.is_set():
            cid = f"{self.name}-{number}"
            while True:
                try:
                    ack = await self.client.send(cid, thread=self.thread, cid=cid)
                    break
                except ClientError as exc:
                    assert exc.code == "unavailable", exc  # reconnecting: try again
                    await asyncio.sleep(PACE)  # a retry interval, not a wait for an outcome
            assert ack.thread is not None and ack.seq is not None
            self.acked.append((ack.thread, ack.seq))
            self.progress.set()
            number += 1
            await asyncio.sleep(PACE)

    async def acks(self, count: int) -> None:
        """Return once ``count`` more of this sender's messages are acked."""
        target = len(self.acked) + count
        async with asyncio.timeout(WAIT):
            while len(self.acked) < target:
                self.progress.clear()
                await self.progress.wait()


async def readiness(node: NodeProcess, ready: bool) -> None:
    """Return once ``node``'s ``/readyz`` says ``ready``."""
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


async def test_every_acked_message_reaches_every_member_once_across_a_redis_restart(
        cluster_factory: ClusterFactory, redis_server: RedisServer, redis_url: str,
        postgres_dsn: str) -> None:
    cluster = await cluster_factory(3, redis_url=redis_url, database_url=postgres_dsn)
    a, b, c = cluster
    thread = await cluster.group("ann", "ben", "cat")
    async with recorder(a, "ann") as ann, recorder(b, "ben") as ben, \
            recorder(c, "cat") as cat:
        senders = [Sender("ann", ann, thread), Sender("ben", ben, thread)]
        stop = asyncio.Event()
        traffic = [asyncio.create_task(s.run(stop)) for s in senders]
        try:
            await asyncio.gather(*(s.acks(PER_PHASE) for s in senders))
            await asyncio.to_thread(redis_server.stop)
            await asyncio.gather(*(readiness(n, False) for n in cluster))
            # Redis is down: every node still acks sends.
            await asyncio.gather(*(s.acks(PER_PHASE) for s in senders))
            await asyncio.to_thread(redis_server.start)
            await asyncio.gather(*(readiness(n, True) for n in cluster))
            await asyncio.gather(*(s.acks(PER_PHASE) for s in senders))
        finally:
            stop.set()
            await asyncio.gather(*traffic)

        owed = {
            "ann": set(senders[1].acked), "ben": set(senders[0].acked),
            "cat": set(senders[0].acked) | set(senders[1].acked),
        }
        recipients = {"ann": ann, "ben": ben, "cat": cat}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT):
                for name, client in recipients.items():
                    while not owed[name] <= client.seen():
                        client.arrived.clear()
                        await client.arrived.wait()

    nodes = {"ann": a.node_id, "ben": b.node_id, "cat": c.node_id}
    for name, client in recipients.items():
        missing = sorted(owed[name] - client.seen())
        assert not missing, f"{name} on {nodes[name]} never got {missing}"
        got = [(m.thread, m.seq) for m in client.wire]
        twice = sorted({x for x in got if got.count(x) > 1})
        assert not twice, f"{name} on {nodes[name]} got these twice: {twice}"


def samples(exposition: str) -> dict[str, float]:
    """``name value`` lines of a Prometheus text exposition (no labels)."""
    values = {}
    for line in exposition.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            values[name] = float(value)
    return values


async def test_broker_metrics_count_publishes_subscriptions_and_a_reconnect(
        cluster_factory: ClusterFactory, redis_server: RedisServer, redis_url: str,
        postgres_dsn: str) -> None:
    cluster = await cluster_factory(1, redis_url=redis_url, database_url=postgres_dsn)
    (node,) = cluster
    async with cluster.client(node, "ann", backoff=(0.05, 0.5)) as ann:
        await ann.next_event(Welcome)
        await ann.send("hello", to="ben")
        await asyncio.to_thread(redis_server.restart)
        await readiness(node, True)
        # Closed with 1013 when the broker came back; subscribed again once reconnected.
        await ann.next_event(Welcome, timeout=WAIT)
        async with cluster.http.get(f"{node.api_url}/metrics") as response:
            metrics = samples(await response.text())
    assert metrics["realtime_broker_publishes_total"] >= 2  # ann's and ben's channels
    assert metrics["realtime_broker_reconnects_total"] == 1
    assert metrics["realtime_broker_subscriptions"] >= 1  # ann's channel
    assert metrics["realtime_broker_connections_down"] == 0
