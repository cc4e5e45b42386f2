"""``fanout``: one group of N members, one sender; every other member receives each message.

On a node the group thread is created over the HTTP API (``--api-key``); on a bare
target (the relay, Socket.IO) the members join a group named in their handshake. The
sender lives in worker 0; every worker counts its own members' deliveries, latency is per
delivery.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import aiohttp
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
)
from loadtest.scenarios.summary import delivery_summary
from protocol.frames import Send

__all__ = ["FanOut", "prepare", "summarize"]

_encode = msgspec.json.encode


def member_name(prefix: str, i: int) -> str:
    return f"{prefix}m{i}"


async def prepare(options: Options) -> dict[str, Any]:
    prefix = f"fo{options.run_id}"
    members = [member_name(prefix, i) for i in range(options.connections)]
    if options.bare:
        return {"prefix": prefix, "thread": f"g{options.run_id}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            options.api_urls[0].rstrip("/") + "/v1/threads",
            json={"members": members, "title": "load test"},
            headers={"X-API-Key": options.api_key or ""},
        ) as response:
            answer = await response.json()
            if response.status != 200:
                raise RuntimeError(f"creating the group failed: {response.status} {answer}")
    return {"prefix": prefix, "thread": answer["thread"]}


class FanOut(Scenario):
    name = "fanout"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.sender: Peer | None = None
        self.seq = 0
        self.latency: LatencySeries | None = None
        self.bare = self.options.bare

    async def setup(self) -> None:
        prefix, thread = self.ctx.plan["prefix"], self.ctx.plan["thread"]
        slots = []
        for i in self.ctx.mine(self.options.connections):
            peer = Peer(member_name(prefix, i), self.on_frame)
            peer.state = set()  # sequence numbers received
            slots.append((peer, i, (thread,)))
            self.peers.append(peer)
            if i == 0:
                self.sender = peer
        failed = await open_all(slots, self.options.connect_concurrency, ctx=self.ctx)
        self.m.counters["connect_failed"] += failed
        self.m.counters["receivers"] += sum(
            1 for p in self.peers if p.link is not None and p is not self.sender
        )

    async def run(self, t0_ns: int) -> None:
        self.latency = LatencySeries(t0_ns)
        if self.sender is not None and self.sender.link is not None:
            await pace(t0_ns, self.options.duration, self.options.rate, self._send_batch)

    async def _send_batch(self, times: list[int]) -> None:
        assert self.sender is not None
        thread = self.ctx.plan["thread"]
        for scheduled in times:
            self.seq += 1
            body = body_stamp(self.options.body_size, scheduled, self.seq)
            try:
                if self.bare:
                    await self.sender.send_text(
                        _encode({"group": thread, "body": body}).decode())
                else:
                    await self.sender.send(
                        Send(id=self.seq, thread=thread, cid=uuid4().hex, body=body))
            except ConnectionError:
                self.m.counters["send_failed"] += 1
                continue
            self.m.counters["sent"] += 1

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        if frame.type == "message" or (self.bare and frame.body is not None):
            sent_ns, seq = read_stamp(frame.body or "")
            self.last_arrival_ns = now
            if seq in peer.state:
                self.m.counters["duplicates"] += 1
                return
            peer.state.add(seq)
            self.m.counters["delivered"] += 1
            if self.latency is not None:
                self.latency.record(now, now - sent_ns)
        elif frame.type == "ack":
            self.m.counters["acked"] += 1
        elif frame.type == "error":
            self.m.counters[f"error_{frame.code}"] += 1

    def finish(self) -> Measurements:
        if self.latency is not None:
            self.m.add_series("delivery", self.latency)
        return self.m


Worker = FanOut


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    c = m.counters
    # Every message that the node acked (on a bare target: that was sent) should reach every
    # receiver that was connected.
    reached = c["sent"] if options.bare else c["acked"]
    expected = reached * c["receivers"]
    c["lost"] = max(0, expected - c["delivered"])
    out = delivery_summary(m, options, server, unacked=options.target == "node")
    out["members"] = options.connections
    out["expected_deliveries"] = expected
    return out
