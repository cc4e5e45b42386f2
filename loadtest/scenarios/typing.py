"""``typing``: N pairs, each side toggling its typing indicator in their DM thread.

Reports the indicators offered, the ``typing`` events received (the node throttles
them), the server CPU per frame sent, and the latency from a toggle to its event (the
latest toggle of that user with the same ``on``).
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from loadtest.options import Options
from loadtest.recorder import LatencySeries, Measurements, percentiles
from loadtest.scenarios.base import (
    Incoming,
    Peer,
    Scenario,
    WorkerContext,
    open_all,
    pace,
    wait_for_event,
)
from loadtest.scenarios.summary import error_count
from protocol.frames import Send, Typing

__all__ = ["TypingIndicators", "prepare", "summarize"]


class _Side:
    __slots__ = ("on", "partner", "sent_at", "thread")

    def __init__(self) -> None:
        self.partner: Peer | None = None
        self.thread: str | None = None
        self.on = False
        self.sent_at: dict[bool, int] = {}


async def prepare(options: Options) -> dict[str, Any]:
    return {"prefix": f"ty{options.run_id}"}


class TypingIndicators(Scenario):
    name = "typing"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.senders: list[Peer] = []
        self.next_sender = 0
        self.latency: LatencySeries | None = None
        self.opening = 0
        self.threads_known = asyncio.Event()

    async def setup(self) -> None:
        prefix = self.ctx.plan["prefix"]
        slots = []
        for pair in self.ctx.mine(self.options.connections):
            a, b = Peer(f"{prefix}a{pair}", self.on_frame), Peer(f"{prefix}b{pair}", self.on_frame)
            a.state, b.state = _Side(), _Side()
            a.state.partner, b.state.partner = b, a
            slots += [(a, pair, ()), (b, pair + 1, ())]
            self.peers += [a, b]
        self.m.counters["connect_failed"] += await open_all(
            slots, self.options.connect_concurrency, ctx=self.ctx)
        # One message per pair opens the DM thread; its ack names the thread.
        for a in self.peers[::2]:
            if a.link is not None and a.state.partner.link is not None:
                self.opening += 1
                await a.send(Send(id=1, to=a.state.partner.user, cid=uuid4().hex, body="hi"))
        if self.opening:
            await wait_for_event(self.threads_known, 30)
        for a in self.peers[::2]:
            if a.state.thread is not None:
                a.state.partner.state.thread = a.state.thread
                self.senders += [a, a.state.partner]

    async def run(self, t0_ns: int) -> None:
        share = self.options.rate / self.ctx.count
        self.latency = LatencySeries(t0_ns)
        if self.senders:
            await pace(t0_ns, self.options.duration, share, self._send_batch)

    async def _send_batch(self, times: list[int]) -> None:
        for scheduled in times:
            peer = self.senders[self.next_sender]
            self.next_sender = (self.next_sender + 1) % len(self.senders)
            side: _Side = peer.state
            side.on = not side.on
            side.sent_at[side.on] = scheduled
            try:
                await peer.send(Typing(thread=side.thread or "", on=side.on))
            except ConnectionError:
                self.m.counters["send_failed"] += 1
                continue
            self.m.counters["sent"] += 1

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        if frame.type == "typing":
            self.last_arrival_ns = now
            self.m.counters["received"] += 1
            partner: _Side = peer.state.partner.state
            sent = partner.sent_at.get(bool(frame.on))
            if sent is not None and self.latency is not None:
                self.latency.record(now, now - sent)
        elif frame.type == "ack" and frame.thread is not None:
            peer.state.thread = frame.thread
            self.opening -= 1
            if self.opening == 0:
                self.threads_known.set()
        elif frame.type == "error":
            self.m.counters[f"error_{frame.code}"] += 1

    def finish(self) -> Measurements:
        if self.latency is not None:
            self.m.add_series("delivery", self.latency)
        return self.m


Worker = TypingIndicators


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    c = m.counters
    out: dict[str, Any] = {
        "offered_rate": options.rate,
        "sent": c["sent"],
        "received": c["received"],
        "received_per_s": c["received"] / options.duration,
        "errors": error_count(m),
        "connect_failed": c["connect_failed"],
        "latency_ms": percentiles(m.histogram("delivery")),
    }
    if server is not None and c["sent"]:
        out["cpu_us_per_frame_sent"] = server["cpu_seconds"] * 1e6 / c["sent"]
    return out
