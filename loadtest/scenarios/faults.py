"""``python -m loadtest fault --kind KIND``: a fault under steady DM traffic, then proof.

A local cluster (:mod:`loadtest.cluster`) starts; ``--pairs`` pairs of users, the two
sides of each on different nodes, send DMs to each other through
:class:`realtime_client.Client` (which reconnects with its cursor) at ``--rate`` in all,
each message retried with its ``cid`` until acked. At ``--fault-at`` of ``--duration``
the fault is injected:

``node-kill``         SIGKILL one node; restart it ``--outage`` s later.
``redis-restart``     stop Redis; start it again ``--outage`` s later (keys are lost).
``postgres-restart``  stop PostgreSQL (fast shutdown: connections cut); start it again
                      ``--outage`` s later. Sends answer ``unavailable`` meanwhile.
``rolling-drain``     SIGTERM each node in turn (drain, 1012), restart it, wait until it
                      is ready, then the next.
``slow-readers``      ``--slow-readers`` connections that never read join a group
                      thread into which ``--hot-senders`` post ``--hot-rate`` messages/s
                      of ``--hot-body`` bytes for ``--outage`` s; a member on another
                      node reads it normally.

When the traffic stops, every recipient gets up to ``--settle`` s to catch up, then
sends a ``sync`` with its cursor; what the store holds is read over the HTTP API. The
verdict (:func:`~loadtest.scenarios.fault_traffic.verify`): "N acked, L lost, D
duplicated", with the errors the senders saw, the nodes' readiness over time, the
longest time any one sender could not get an ack, and close codes from ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import socket
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from loadtest.cluster import LocalCluster, NodeProcess
from loadtest.help_text import prog
from loadtest.scenarios.fault_traffic import (
    Acked,
    Member,
    RecordingClient,
    Verdict,
    catch_up,
    stored_messages,
    sync,
    verify,
)

__all__ = ["KINDS", "FaultSettings", "main", "run_fault"]

KINDS = ("node-kill", "redis-restart", "postgres-restart", "rolling-drain", "slow-readers")
_BACKOFF = (0.05, 0.5)
_POLL = 0.25
"""Seconds between two readings of every node's ``/readyz``."""


@dataclass(frozen=True, kw_only=True)
class FaultSettings:
    """One fault run."""

    kind: str
    pairs: int = 30
    rate: float = 100.0
    duration: float = 30.0
    fault_at: float = 0.3
    outage: float = 5.0
    settle: float = 30.0
    slow_readers: int = 5
    hot_senders: int = 8
    hot_rate: float = 400.0
    hot_body: int = 8192


class Readiness:
    """Polls every node's ``/readyz`` and keeps each change: (seconds, node, ready)."""

    def __init__(self, nodes: list[NodeProcess], t0: float) -> None:
        self.nodes = nodes
        self.t0 = t0
        self.changes: list[tuple[float, str, bool]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="readiness")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _poll(self) -> None:
        state: dict[str, bool] = {}
        while True:
            answers = await asyncio.gather(*(node.ready() for node in self.nodes))
            at = time.monotonic() - self.t0
            for node, ready in zip(self.nodes, answers, strict=True):
                if state.get(node.node_id) != ready:
                    state[node.node_id] = ready
                    self.changes.append((round(at, 2), node.node_id, ready))
            await asyncio.sleep(_POLL)  # the poll interval

    def all_ready_after(self, at: float) -> float | None:
        """Seconds from ``at`` until every node was last seen becoming ready (``None``
        if one was not ready at the end)."""
        last: dict[str, tuple[float, bool]] = {}
        for when, node, ready in self.changes:
            last[node] = (when, ready)
        if not all(ready for _, ready in last.values()):
            return None
        return max(0.0, max(when for when, _ in last.values()) - at)


async def closes_by_code(http: aiohttp.ClientSession, nodes: list[NodeProcess]) -> Counter[str]:
    """``realtime_closes_total`` by close code, summed over the running nodes."""
    total: Counter[str] = Counter()
    for node in nodes:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(f"{node.api_url}/metrics") as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "realtime_closes_total":
                        total[sample.labels.get("code", "")] += int(sample.value)
    return total


async def rss_mib(http: aiohttp.ClientSession, node: NodeProcess) -> float:
    async with http.get(f"{node.api_url}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "process_resident_memory_bytes":
                return sample.value / 2**20
    return 0.0


# -- the faults -----------------------------------------------------------------------


async def inject(cluster: LocalCluster, settings: FaultSettings, notes: dict[str, Any],
                 hot: Hot | None) -> None:
    """Inject ``settings.kind`` and undo it; return once the cluster is whole again."""
    kind, outage = settings.kind, settings.outage
    if kind == "node-kill":
        victim = cluster.nodes[1 % len(cluster.nodes)]
        await victim.kill()
        notes["killed"] = victim.node_id
        await asyncio.sleep(outage)  # the length of the outage is the fault
        await victim.start()
    elif kind == "redis-restart":
        assert cluster.redis is not None
        await asyncio.to_thread(cluster.redis.stop)
        await asyncio.sleep(outage)  # the length of the outage is the fault
        await asyncio.to_thread(cluster.redis.start)
    elif kind == "postgres-restart":
        assert cluster.postgres is not None
        await asyncio.to_thread(cluster.postgres.stop, "fast")
        await asyncio.sleep(outage)  # the length of the outage is the fault
        await asyncio.to_thread(cluster.postgres.start)
    elif kind == "rolling-drain":
        codes = {}
        for node in cluster.nodes:
            codes[node.node_id] = await node.terminate()
            await node.start()
        notes["drain_exit_codes"] = codes
    elif kind == "slow-readers":
        assert hot is not None
        await hot.flood(outage)
    else:
        raise ValueError(f"unknown fault {kind!r}")


class Hot:
    """The slow-readers fault: a group thread, connections of its members that never
    read, a member that reads, and a sender that floods it."""

    def __init__(self, cluster: LocalCluster, settings: FaultSettings) -> None:
        self.cluster = cluster
        self.settings = settings
        self.slow: list[ClientConnection] = []
        self.senders: list[Member] = []
        self.watcher: RecordingClient | None = None
        self.thread = ""

    async def open(self) -> None:
        nodes = self.cluster.nodes
        slow_users = [f"slow{i}" for i in range(self.settings.slow_readers)]
        senders = [f"hot{i}" for i in range(self.settings.hot_senders)]
        created = await self.cluster.api("POST", "/v1/threads",
                                         {"members": [*senders, "watcher", *slow_users]})
        self.thread = str(created["thread"])
        slow_node, watch_node, send_node = (nodes[i % len(nodes)] for i in range(3))
        for user in slow_users:
            # A small receive buffer, and max_queue=1 (the client stops reading its
            # socket once one frame waits): the node's writes pile up at once, as with
            # a phone that stopped reading, not after megabytes of kernel buffers.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", slow_node.port))
            self.slow.append(await connect(
                slow_node.ws_url, sock=sock, subprotocols=["rt.v1.json"],  # type: ignore[list-item]
                additional_headers={"Authorization": f"Bearer {slow_node.token(user)}"},
                compression=None, max_queue=1, proxy=None))
        self.watcher = RecordingClient(watch_node.ws_url, watch_node.token("watcher"),
                                       backoff=_BACKOFF)
        await self.watcher.connect()
        for user in senders:
            client = RecordingClient(send_node.ws_url, send_node.token(user),
                                     backoff=_BACKOFF)
            await client.connect()
            member = Member(user, client, thread=self.thread, body_size=self.settings.hot_body)
            member.start()
            self.senders.append(member)

    @property
    def acked(self) -> list[Acked]:
        return [a for member in self.senders for a in member.acked]

    async def flood(self, seconds: float) -> None:
        stop = asyncio.Event()
        interval = len(self.senders) / self.settings.hot_rate
        tasks = [asyncio.create_task(m.run(stop, interval, 30.0)) for m in self.senders]
        await asyncio.sleep(seconds)  # the length of the flood is the fault
        stop.set()
        await asyncio.gather(*tasks)

    async def close(self) -> None:
        for ws in self.slow:
            ws.transport.abort()
        await asyncio.gather(*(m.close() for m in self.senders))
        if self.watcher is not None:
            await self.watcher.close()


# -- one run --------------------------------------------------------------------------


def _stalls(acked: list[Acked], started: float, ended: float) -> float:
    """The longest time one sender went without an ack, over the run."""
    worst = 0.0
    by_sender: dict[str, list[float]] = {}
    for message in acked:
        by_sender.setdefault(message.sender, []).append(message.at)
    for times in by_sender.values():
        points = [started, *sorted(times), ended]
        worst = max(worst, *(b - a for a, b in itertools.pairwise(points)))
    return worst


async def run_fault(cluster: LocalCluster, settings: FaultSettings) -> dict[str, Any]:
    """Run the traffic, inject the fault, verify; return the report."""
    nodes = cluster.nodes
    members: list[Member] = []
    for pair in range(settings.pairs):
        a, b = f"a{pair}", f"b{pair}"
        for user, partner, node in ((a, b, nodes[pair % len(nodes)]),
                                    (b, a, nodes[(pair + 1) % len(nodes)])):
            client = RecordingClient(node.ws_url, node.token(user, ttl=6 * 3600),
                                     backoff=_BACKOFF)
            members.append(Member(user, client, to=partner))
    hot = Hot(cluster, settings) if settings.kind == "slow-readers" else None
    t0 = time.monotonic()
    readiness = Readiness(nodes, t0)
    notes: dict[str, Any] = {}
    try:
        await asyncio.gather(*(m.client.connect() for m in members))
        for member in members:
            member.start()
        if hot is not None:
            await hot.open()
            notes["rss_mib_before"] = await rss_mib(cluster.http, nodes[0])
        closes_before = await closes_by_code(cluster.http, nodes)
        readiness.start()
        stop = asyncio.Event()
        interval = 2 * settings.pairs / settings.rate
        traffic = [asyncio.create_task(m.run(stop, interval, settings.settle)) for m in members]
        try:
            await asyncio.sleep(settings.duration * settings.fault_at)  # traffic before
            fault_start = time.monotonic()
            await inject(cluster, settings, notes, hot)
            fault_end = time.monotonic()
            if hot is not None:
                notes["rss_mib_after_flood"] = await rss_mib(cluster.http, nodes[0])
                notes["hot_acked"] = len(hot.acked)
            await asyncio.sleep(max(0.0, t0 + settings.duration - time.monotonic()))
        finally:
            stop.set()
            await asyncio.gather(*traffic)
        traffic_end = time.monotonic()

        clients = {m.user: m.client for m in members}
        acked = [a for m in members for a in m.acked]
        owed: dict[str, set[tuple[str, int]]] = {}
        for member in members:
            assert member.to is not None
            owed.setdefault(member.to, set()).update((a.thread, a.seq) for a in member.acked)
        stall = _stalls(acked, t0, traffic_end)
        if hot is not None:
            assert hot.watcher is not None
            clients["watcher"] = hot.watcher
            acked += hot.acked
            owed["watcher"] = {(a.thread, a.seq) for a in hot.acked}
        caught_up = await catch_up(clients, owed, settings.settle)
        missing_before_sync = sum(
            len(owed.get(u, set()) - {(m.thread, m.seq) for m in c.wire})
            for u, c in clients.items())
        before_sync = verify(acked, [], owed, {u: list(c.wire) for u, c in clients.items()})
        synced = await asyncio.gather(*(sync(c) for c in clients.values()))
        closes_after = await closes_by_code(cluster.http, nodes)
        threads = sorted({a.thread for a in acked})
        get = functools.partial(cluster.api, "GET")
        stored = [s for t in threads for s in await stored_messages(get, t)]
        verdict = verify(acked, stored, owed, {u: c.wire for u, c in clients.items()})
    finally:
        await readiness.stop()
        await asyncio.gather(*(m.close() for m in members))
        if hot is not None:
            await hot.close()
    errors: Counter[str] = Counter()
    for member in members + (hot.senders if hot else []):
        errors.update(member.errors)
    return _report(settings, verdict, {
        "fault_started_s": round(fault_start - t0, 2),
        "fault_seconds": round(fault_end - fault_start, 2),
        "sender_errors": dict(errors),
        "unacked": sum(len(m.unacked) for m in members),
        "longest_sender_stall_s": round(stall, 2),
        "reconnects": sum(c.welcomes - 1 for c in clients.values()),
        "all_ready_after_fault_s": _rounded(readiness.all_ready_after(fault_end - t0)),
        "readiness_changes": readiness.changes,
        "caught_up_after_s": round(caught_up, 2),
        "missing_before_sync": missing_before_sync,
        "received_twice_before_sync": sum(len(v) for v in before_sync.twice.values()),
        "sync_failed": synced.count(False),
        "closes_by_code": dict(closes_after - closes_before),
        **notes,
    })


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _report(settings: FaultSettings, verdict: Verdict, figures: dict[str, Any]) -> dict[str, Any]:
    return {"kind": settings.kind, "settings": asdict(settings), "line": verdict.line(),
            "verdict": verdict.as_dict(), **figures}


def print_fault(report: dict[str, Any]) -> None:
    print(f"{report['kind']}: {report['line']}")
    for key, value in report.items():
        if key not in ("kind", "line", "verdict", "settings"):
            print(f"  {key}: {value}")
    verdict = report["verdict"]
    for key in ("not_stored", "stored_twice", "missing", "twice"):
        if verdict[key]:
            print(f"  {key}: {verdict[key]}")


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    settings = FaultSettings(
        kind=args.kind, pairs=args.pairs, rate=args.rate, duration=args.duration,
        fault_at=args.fault_at, outage=args.outage, settle=args.settle,
        slow_readers=args.slow_readers, hot_senders=args.hot_senders, hot_rate=args.hot_rate,
        hot_body=args.hot_body)
    async with LocalCluster(args.nodes, keep=args.log_dir) as cluster:
        return await run_fault(cluster, settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("fault"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--rate", type=float, default=100.0, help="DMs per second in all")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of traffic")
    parser.add_argument("--fault-at", type=float, default=0.3,
                        help="fraction of --duration at which the fault starts")
    parser.add_argument("--outage", type=float, default=5.0,
                        help="seconds a part stays down (or the flood lasts)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="longest wait for recipients to catch up afterwards")
    parser.add_argument("--slow-readers", type=int, default=5)
    parser.add_argument("--hot-senders", type=int, default=8)
    parser.add_argument("--hot-rate", type=float, default=400.0)
    parser.add_argument("--hot-body", type=int, default=8192)
    parser.add_argument("--log-dir", help="keep the node logs here")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    import uvloop

    report = uvloop.run(_main(args))
    print_fault(report)
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(report, out, indent=1)
    verdict = report["verdict"]
    return 0 if verdict["lost"] == 0 and verdict["duplicated"] == 0 else 1
