"""``reconnect``: N receivers lose their connections at once while DMs keep flowing,
then reconnect with their cursor.

A few senders send DMs round-robin to the receivers for the whole run. At ``drop_at``
of the duration every receiver drops its TCP connection without a closing handshake and
reconnects with ``?cursor=`` (the last one it processed); the node replays what it
missed, then ``synced``. Reports the time from the drop until the last receiver is
resynced, and loss (acked, never received) and duplicates over the whole run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

from loadtest.options import Options
from loadtest.recorder import LatencySeries, Measurements
from loadtest.scenarios.base import (
    Incoming,
    Peer,
    Scenario,
    WorkerContext,
    body_stamp,
    open_all,
    pace,
    read_stamp,
    sleep_until,
)
from loadtest.scenarios.summary import delivery_summary
from protocol.frames import Send

__all__ = ["Reconnect", "prepare", "summarize"]


class _Receiver:
    __slots__ = ("acked", "received", "synced_at")

    def __init__(self) -> None:
        self.received: set[int] = set()
        self.acked: set[int] = set()
        self.synced_at = 0


async def prepare(options: Options) -> dict[str, Any]:
    return {"prefix": f"rc{options.run_id}"}


class Reconnect(Scenario):
    name = "reconnect"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.receivers: list[Peer] = []
        self.senders: list[Peer] = []
        self.targets: dict[int, Peer] = {}
        self.seq = 0
        self.next = 0
        self.latency: LatencySeries | None = None
        self.dropped_at = 0
        self.reconnect_task: asyncio.Task[None] | None = None

    async def setup(self) -> None:
        prefix = self.ctx.plan["prefix"]
        slots = []
        for i in self.ctx.mine(self.options.connections):
            peer = Peer(f"{prefix}r{i}", self.on_frame)
            peer.state = _Receiver()
            self.receivers.append(peer)
            slots.append((peer, i, ()))
        for j in self.ctx.mine(max(self.options.senders, self.ctx.count)):
            peer = Peer(f"{prefix}s{j}", self.on_frame)
            self.senders.append(peer)
            slots.append((peer, j + 1, ()))
        self.peers = self.receivers + self.senders
        self.m.counters["connect_failed"] += await open_all(
            slots, self.options.connect_concurrency, ctx=self.ctx)
        self.receivers = [p for p in self.receivers if p.link is not None]
        self.senders = [p for p in self.senders if p.link is not None]

    async def run(self, t0_ns: int) -> None:
        share = self.options.rate / self.ctx.count
        self.latency = LatencySeries(t0_ns)
        drop_at = t0_ns + int(self.options.drop_at * self.options.duration * 1e9)
        async with asyncio.TaskGroup() as group:
            if self.senders and self.receivers:
                group.create_task(pace(t0_ns, self.options.duration, share, self._send_batch))
            group.create_task(self._drop_and_resume(drop_at))

    async def _drop_and_resume(self, at_ns: int) -> None:
        await sleep_until(at_ns)
        self.dropped_at = time.monotonic_ns()
        for peer in self.receivers:
            peer.drop()
        # The readers end as their links fail; then reconnect with the cursor each kept.
        for peer in self.receivers:
            if peer.task is not None:
                await asyncio.gather(peer.task, return_exceptions=True)
            peer.task, peer.link = None, None
        failed = await open_all([(p, i, ()) for i, p in enumerate(self.receivers)],
                                self.options.connect_concurrency, resume=True, ctx=self.ctx)
        self.m.counters["reconnect_failed"] += failed

    async def _send_batch(self, times: list[int]) -> None:
        for scheduled in times:
            sender = self.senders[self.next % len(self.senders)]
            receiver = self.receivers[self.next % len(self.receivers)]
            self.next += 1
            self.seq += 1
            self.targets[self.seq] = receiver
            body = body_stamp(self.options.body_size, scheduled, self.seq)
            try:
                await sender.send(Send(id=self.seq, to=receiver.user, cid=uuid4().hex, body=body))
            except ConnectionError:
                self.m.counters["send_failed"] += 1
                continue
            self.m.counters["sent"] += 1

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        kind = frame.type
        if kind == "message" and frame.body is not None:
            self.last_arrival_ns = now
            sent_ns, seq = read_stamp(frame.body)
            receiver: _Receiver = peer.state
            if seq in receiver.received:
                self.m.counters["duplicates"] += 1
                return
            receiver.received.add(seq)
            self.m.counters["delivered"] += 1
            if self.latency is not None:
                self.latency.record(now, now - sent_ns)
        elif kind == "synced":
            peer.state.synced_at = now
        elif kind == "ack" and isinstance(frame.id, int):
            target = self.targets.pop(frame.id, None)
            if target is not None:
                target.state.acked.add(frame.id)
                self.m.counters["acked"] += 1
        elif kind == "error":
            self.m.counters[f"error_{frame.code}"] += 1
            if isinstance(frame.id, int):
                self.targets.pop(frame.id, None)

    def pending(self) -> int:
        missing = len(self.targets)
        for peer in self.receivers:
            r: _Receiver = peer.state
            if r.synced_at < self.dropped_at:
                missing += 1
        return missing + max(0, self.m.counters["acked"] - self.m.counters["delivered"])

    def finish(self) -> Measurements:
        lost = 0
        resync: list[float] = []
        for peer in self.receivers:
            r: _Receiver = peer.state
            lost += len(r.acked - r.received)
            if r.synced_at >= self.dropped_at:
                resync.append((r.synced_at - self.dropped_at) / 1e9)
        self.m.counters["lost"] += lost
        self.m.counters["receivers"] += len(self.receivers)
        self.m.counters["resynced"] += len(resync)
        self.m.samples["resync_seconds"] = resync
        if self.latency is not None:
            self.m.add_series("delivery", self.latency)
        return self.m


Worker = Reconnect


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    out = delivery_summary(m, options, server, unacked=True)
    resync = sorted(m.samples.get("resync_seconds", []))
    out["receivers"] = m.counters["receivers"]
    out["resynced"] = m.counters["resynced"]
    out["reconnect_failed"] = m.counters["reconnect_failed"]
    out["all_resynced_s"] = resync[-1] if resync else None
    out["median_resync_s"] = resync[len(resync) // 2] if resync else None
    return out
