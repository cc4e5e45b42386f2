"""``idle``: N connections that say nothing; the server's memory per connection.

Memory per connection is the growth of the server's resident memory (from its
``/metrics``) between before the first connection and the end of the hold, divided by
the connections held. One process holds at most ~19,500 sockets here (20,000 open
files): past that, use several ``--workers``.
"""

from __future__ import annotations

import time
from typing import Any

from loadtest.options import Options
from loadtest.recorder import Measurements
from loadtest.scenarios.base import Incoming, Peer, Scenario, open_all, sleep_until

__all__ = ["Idle", "prepare", "summarize"]


async def prepare(options: Options) -> dict[str, Any]:
    return {"prefix": f"id{options.run_id}", "group": f"g{options.run_id}"}


class Idle(Scenario):
    name = "idle"

    async def setup(self) -> None:
        prefix = self.ctx.plan["prefix"]
        slots = []
        for i in self.ctx.mine(self.options.connections):
            peer = Peer(f"{prefix}u{i}", self.on_frame)
            slots.append((peer, i, ()))
            self.peers.append(peer)
        started = time.monotonic()
        failed = await open_all(slots, self.options.connect_concurrency, ctx=self.ctx)
        self.m.counters["connect_failed"] += failed
        self.m.counters["connected"] += len(self.peers) - failed
        self.m.samples["connect_seconds"] = [time.monotonic() - started]

    async def run(self, t0_ns: int) -> None:
        await sleep_until(t0_ns + int(self.options.duration * 1e9))
        self.m.counters["still_open"] += sum(
            1 for p in self.peers if p.task is not None and not p.task.done()
        )

    def pending(self) -> int:
        return 0

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        self.m.counters[f"frame_{frame.type}"] += 1


Worker = Idle


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    c = m.counters
    out: dict[str, Any] = {
        "connections": options.connections,
        "connected": c["connected"],
        "still_open": c["still_open"],
        "connect_failed": c["connect_failed"],
        "connect_seconds": max(m.samples.get("connect_seconds", [0.0])),
    }
    if server is not None and c["still_open"]:
        growth = server["rss_end"] - server["rss_before"]
        out["rss_growth_bytes"] = growth
        out["memory_per_connection_kb"] = growth / c["still_open"] / 1024
    return out
