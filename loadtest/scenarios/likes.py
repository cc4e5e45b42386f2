"""``likes``: K likers toggle their like on one post; V viewers follow the post.

Reports the like ack latency, how many ``likes`` updates each viewer got per second
(the node coalesces them per post), and whether every viewer's last update carries the
exact final count (the number of likers whose last acked action was a like).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

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
from protocol.frames import Like, Subscribe

__all__ = ["Likes", "prepare", "summarize"]


class _Liker:
    __slots__ = ("in_flight", "on", "sent_at")

    def __init__(self) -> None:
        self.on = False
        self.in_flight: bool | None = None
        self.sent_at = 0


class _Viewer:
    __slots__ = ("last_count", "per_second", "subscribed")

    def __init__(self) -> None:
        self.subscribed = False
        self.last_count: int | None = None
        self.per_second: Counter[int] = Counter()


async def prepare(options: Options) -> dict[str, Any]:
    return {"prefix": f"lk{options.run_id}", "post": f"lt-{options.run_id}"}


class Likes(Scenario):
    name = "likes"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.likers: list[Peer] = []
        self.viewers: list[Peer] = []
        self.next_liker = 0
        self.ids = 0
        self.t0_ns = 0
        self.ack_latency: LatencySeries | None = None
        self.unsubscribed = 0
        self.all_subscribed = asyncio.Event()

    async def setup(self) -> None:
        prefix, post = self.ctx.plan["prefix"], self.ctx.plan["post"]
        slots = []
        for i in self.ctx.mine(self.options.likers):
            peer = Peer(f"{prefix}l{i}", self.on_frame)
            peer.state = _Liker()
            self.likers.append(peer)
            slots.append((peer, i, ()))
        for i in self.ctx.mine(self.options.connections):
            peer = Peer(f"{prefix}v{i}", self.on_frame)
            peer.state = _Viewer()
            self.viewers.append(peer)
            slots.append((peer, i, ()))
        self.peers = self.likers + self.viewers
        self.m.counters["connect_failed"] += await open_all(
            slots, self.options.connect_concurrency, ctx=self.ctx)
        self.likers = [p for p in self.likers if p.link is not None]
        self.viewers = [p for p in self.viewers if p.link is not None]
        self.unsubscribed = len(self.viewers)
        for viewer in self.viewers:
            await viewer.send(Subscribe(id=0, topic=f"post:{post}"))
        if self.viewers:
            await wait_for_event(self.all_subscribed, 30)

    async def run(self, t0_ns: int) -> None:
        self.t0_ns = t0_ns
        share = self.options.rate / self.ctx.count
        # A liker waits for its ack before its next like (closed loop), so a slow ack
        # hides the likes it delayed: the correction fills them in, at the interval
        # at which each liker is scheduled.
        interval_us = int(1e6 * max(1, len(self.likers)) / share) if share else 0
        self.ack_latency = LatencySeries(t0_ns, interval_us)
        if self.likers:
            await pace(t0_ns, self.options.duration, share, self._like_batch)

    async def _like_batch(self, times: list[int]) -> None:
        post = self.ctx.plan["post"]
        for _ in times:
            for _ in range(len(self.likers)):
                peer = self.likers[self.next_liker]
                self.next_liker = (self.next_liker + 1) % len(self.likers)
                if peer.state.in_flight is None:
                    break
            else:
                # Every liker waits for an ack: the server is behind the offered rate.
                self.m.counters["skipped"] += 1
                continue
            liker: _Liker = peer.state
            self.ids += 1
            liker.in_flight = not liker.on
            liker.sent_at = time.monotonic_ns()
            try:
                await peer.send(Like(id=self.ids, post=post, on=liker.in_flight))
            except ConnectionError:
                liker.in_flight = None
                self.m.counters["send_failed"] += 1
                continue
            self.m.counters["sent"] += 1

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        kind = frame.type
        if kind == "likes":
            viewer: _Viewer = peer.state
            viewer.last_count = frame.count
            self.last_arrival_ns = now
            if self.t0_ns:
                viewer.per_second[(now - self.t0_ns) // 1_000_000_000] += 1
            self.m.counters["updates"] += 1
        elif kind == "ack":
            if isinstance(peer.state, _Viewer):
                if not peer.state.subscribed:
                    peer.state.subscribed = True
                    self.unsubscribed -= 1
                    if self.unsubscribed == 0:
                        self.all_subscribed.set()
                return
            liker: _Liker = peer.state
            if liker.in_flight is not None:
                liker.on = liker.in_flight
                liker.in_flight = None
                self.m.counters["acked"] += 1
                if self.ack_latency is not None:
                    self.ack_latency.record(now, now - liker.sent_at)
        elif kind == "error":
            self.m.counters[f"error_{frame.code}"] += 1
            if isinstance(peer.state, _Liker):
                peer.state.in_flight = None

    def pending(self) -> int | None:
        if any(p.state.in_flight is not None for p in self.likers):
            return 1
        return None  # then wait until the coalesced updates stop coming

    def finish(self) -> Measurements:
        self.m.counters["likers_on"] += sum(1 for p in self.likers if p.state.on)
        if self.ack_latency is not None:
            self.m.add_series("ack", self.ack_latency)
        self.m.samples["viewer_last_count"] = [v.state.last_count for v in self.viewers]
        self.m.samples["viewer_max_per_s"] = [
            max(v.state.per_second.values(), default=0) for v in self.viewers
        ]
        self.m.samples["viewer_updates"] = [sum(v.state.per_second.values())
                                            for v in self.viewers]
        return self.m


Worker = Likes


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    c = m.counters
    final = c["likers_on"]
    last = m.samples.get("viewer_last_count", [])
    max_per_s = m.samples.get("viewer_max_per_s", [])
    updates = m.samples.get("viewer_updates", [])
    out: dict[str, Any] = {
        "offered_rate": options.rate,
        "likers": options.likers,
        "viewers": len(last),
        "sent": c["sent"],
        "acked": c["acked"],
        "acked_per_s": c["acked"] / options.duration,
        "skipped": c["skipped"],
        "errors": error_count(m),
        "connect_failed": c["connect_failed"],
        "ack_latency_ms": percentiles(m.histogram("ack")),
        "final_count_expected": final,
        "viewers_with_exact_final": sum(1 for n in last if n == final),
        "final_count_exact": bool(last) and all(n == final for n in last),
        "viewer_updates_per_s_max": max(max_per_s, default=0),
        "viewer_updates_per_s_mean": (
            sum(updates) / len(updates) / options.duration if updates else 0.0
        ),
    }
    if server is not None and c["acked"]:
        out["cpu_us_per_like"] = server["cpu_seconds"] * 1e6 / c["acked"]
    return out
