"""``dm``: N pairs of users; each side sends to its partner at its share of the rate.

Latency is send -> receipt on the generator's clock (both sides of a pair live in the
same worker). On a node a message counts as lost when it was acked but never received by
the partner; on a bare target (the relay, Socket.IO: no acks) when it was sent and never
received. Duplicates are recognised by the generator's own sequence number in the body.
In a cluster, the two sides of a pair connect to different nodes, so every DM crosses
nodes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

import msgspec

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
    wait_for_event,
)
from loadtest.scenarios.summary import delivery_summary
from protocol.frames import Send

__all__ = ["DirectMessages", "prepare", "summarize"]

_encode = msgspec.json.encode


class _Side:
    """One side of a pair: what it sent, what the server acked, what it received."""

    __slots__ = ("acked", "partner", "received")

    def __init__(self) -> None:
        self.partner: Peer | None = None
        self.acked: set[int] = set()
        self.received: set[int] = set()


async def prepare(options: Options) -> dict[str, Any]:
    return {"prefix": f"dm{options.run_id}"}


class DirectMessages(Scenario):
    name = "dm"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.senders: list[Peer] = []
        self.next_sender = 0
        self.seq = 0
        self.latency: LatencySeries | None = None
        self.bare = self.options.bare
        self.warmed = 0
        self.all_warm = asyncio.Event()

    async def setup(self) -> None:
        prefix = self.ctx.plan["prefix"]
        slots: list[tuple[Peer, int, tuple[str, ...]]] = []
        for pair in self.ctx.mine(self.options.connections):
            a = Peer(f"{prefix}a{pair}", self.on_frame)
            b = Peer(f"{prefix}b{pair}", self.on_frame)
            a.state, b.state = _Side(), _Side()
            a.state.partner, b.state.partner = b, a
            slots += [(a, pair, ()), (b, pair + 1, ())]
            self.peers += [a, b]
        failed = await open_all(slots, self.options.connect_concurrency, ctx=self.ctx)
        self.m.counters["connect_failed"] += failed
        self.senders = [p for p in self.peers if p.link is not None
                        and p.state.partner.link is not None]
        # A first message per pair opens its DM thread, so that thread creation is not
        # part of the measurement.
        for peer in self.senders:
            await self._send(peer, time.monotonic_ns(), warm=True)
        await self.wait_warm()

    async def wait_warm(self) -> None:
        if self.warmed < len(self.senders):
            await wait_for_event(self.all_warm, 30)

    async def run(self, t0_ns: int) -> None:
        share = self.options.rate / self.ctx.count
        self.latency = LatencySeries(t0_ns)
        if self.senders:
            await pace(t0_ns, self.options.duration, share, self._send_batch)

    async def _send_batch(self, times: list[int]) -> None:
        senders = self.senders
        for scheduled in times:
            peer = senders[self.next_sender]
            self.next_sender = (self.next_sender + 1) % len(senders)
            await self._send(peer, scheduled)

    async def _send(self, peer: Peer, scheduled: int, warm: bool = False) -> None:
        side: _Side = peer.state
        partner = side.partner
        assert partner is not None
        self.seq += 1
        seq = -self.seq if warm else self.seq
        now = scheduled
        body = body_stamp(self.options.body_size, now, seq)
        try:
            if self.bare:
                await peer.send_text(_encode({"to": partner.user, "body": body}).decode())
            else:
                await peer.send(Send(id=seq, to=partner.user, cid=uuid4().hex, body=body))
        except ConnectionError:
            self.m.counters["send_failed"] += 1
            return
        if not warm:
            self.m.counters["sent"] += 1
            if self.bare:
                side.acked.add(seq)

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        kind = frame.type
        if kind == "message" or (self.bare and frame.body is not None):
            sent_ns, seq = read_stamp(frame.body or "")
            self.last_arrival_ns = now
            if seq < 0:
                self.warmed += 1
                if self.warmed == len(self.senders):
                    self.all_warm.set()
                return
            side: _Side = peer.state
            if seq in side.received:
                self.m.counters["duplicates"] += 1
                return
            side.received.add(seq)
            self.m.counters["delivered"] += 1
            if self.latency is not None:
                self.latency.record(now, now - sent_ns)
        elif kind == "ack":
            acked = frame.id
            if isinstance(acked, int) and acked > 0:
                peer.state.acked.add(acked)
                self.m.counters["acked"] += 1
        elif kind == "error":
            self.m.counters[f"error_{frame.code}"] += 1

    def pending(self) -> int:
        # Every send that was not refused should arrive, and be acked: a drain that
        # ended with the last delivery would report acks still on their way as
        # unanswered. The exact loss (acked and never received) is counted in finish().
        # A bare target acks nothing: only deliveries are awaited there.
        c = self.m.counters
        if self.bare:
            return max(0, c["sent"] - c["delivered"])
        errors = sum(v for k, v in c.items() if k.startswith("error_"))
        return max(0, c["sent"] - errors - c["delivered"]) + max(0, c["sent"] - errors - c["acked"])

    def finish(self) -> Measurements:
        lost = 0
        for peer in self.senders:
            side: _Side = peer.state
            partner: _Side = side.partner.state  # type: ignore[union-attr]
            lost += len(side.acked - partner.received)
        self.m.counters["lost"] += lost
        if self.latency is not None:
            self.m.add_series("delivery", self.latency)
        return self.m


Worker = DirectMessages


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    return delivery_summary(m, options, server, unacked=options.target == "node")
