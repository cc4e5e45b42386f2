"""``reactions``: N members of one busy group react to its messages; every member's other
devices (here: every other member) get each reaction as an ``update``.

The group and its messages are made over the HTTP API (``--api-key``) before anyone
connects: ``TARGETS`` messages to react to. During the run each worker offers its share
of the rate: a reaction by one of its members (round robin) to one of the messages, with
one of a few emoji, toggled on and off so that every reaction changes the state and so
is an entry of the thread's log. With ``--edits``, members edit their own messages
instead (each edit a new body: an entry each time). Latency is per update delivery,
from the change's scheduled time; ``lost`` counts updates owed (acked entries times the
other connected members) and never received; ``cpu_us_per_update`` is the node's CPU
per entry made.
"""

from __future__ import annotations

from typing import Any

import aiohttp

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
)
from loadtest.scenarios.summary import delivery_summary
from protocol.frames import Edit, React

__all__ = ["Reactions", "prepare", "summarize"]

TARGETS = 20
"""Messages of the group that members react to."""
EMOJI = ("👍", "❤️", "😂", "😮", "🎉", "🙏")


def member_name(prefix: str, i: int) -> str:
    return f"{prefix}m{i}"


async def prepare(options: Options) -> dict[str, Any]:
    prefix = f"re{options.run_id}"
    members = [member_name(prefix, i) for i in range(options.connections)]
    base = options.api_urls[0].rstrip("/")
    headers = {"X-API-Key": options.api_key or ""}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{base}/v1/threads",
                                json={"members": members, "title": "reactions"}) as response:
            answer = await response.json()
            if response.status != 200:
                raise RuntimeError(f"creating the group failed: {response.status} {answer}")
        thread = answer["thread"]
        targets = []
        for i in range(TARGETS):
            async with session.post(f"{base}/v1/threads/{thread}/messages",
                                    json={"from": members[i % len(members)],
                                          "body": f"message {i}"}) as response:
                posted = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"posting failed: {response.status} {posted}")
                targets.append((members[i % len(members)], posted["seq"]))
    return {"prefix": prefix, "thread": thread, "targets": targets}


class Reactions(Scenario):
    name = "reactions"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.latency: LatencySeries | None = None
        self.turn = 0
        self.ids = 0
        self.sent_at: dict[tuple[str, int, str], int] = {}
        """(user, target, emoji) -> scheduled time of that reaction's latest change."""
        self.state: dict[tuple[str, int, str], bool] = {}
        self.own: dict[str, list[int]] = {}
        """With ``--edits``: each member's messages, which it may edit."""

    async def setup(self) -> None:
        prefix = self.ctx.plan["prefix"]
        slots = []
        for i in self.ctx.mine(self.options.connections):
            peer = Peer(member_name(prefix, i), self.on_frame)
            slots.append((peer, i, ()))
            self.peers.append(peer)
        failed = await open_all(slots, self.options.connect_concurrency, ctx=self.ctx)
        self.m.counters["connect_failed"] += failed
        self.m.counters["receivers"] += sum(1 for p in self.peers if p.link is not None)

    async def run(self, t0_ns: int) -> None:
        self.latency = LatencySeries(t0_ns)
        share = self.options.rate / self.ctx.count
        if any(p.link is not None for p in self.peers) and share > 0:
            await pace(t0_ns, self.options.duration, share, self._react_batch)

    async def _react_batch(self, times: list[int]) -> None:
        if self.options.edits:
            await self._edit_batch(times)
            return
        thread = self.ctx.plan["thread"]
        targets = [seq for _, seq in self.ctx.plan["targets"]]
        live = [p for p in self.peers if p.link is not None]
        for scheduled in times:
            self.turn += 1
            peer = live[self.turn % len(live)]
            # Cycle through (target, emoji) pairs per member so that toggles alternate.
            pair = self.turn // len(live)
            target = targets[pair % len(targets)]
            emoji = EMOJI[(pair // len(targets)) % len(EMOJI)]
            key = (peer.user, target, emoji)
            on = not self.state.get(key, False)
            self.state[key] = on
            self.sent_at[key] = scheduled
            self.ids += 1
            try:
                await peer.send(React(id=self.ids, thread=thread, seq=target, emoji=emoji,
                                      on=on))
            except ConnectionError:
                self.m.counters["send_failed"] += 1
                continue
            self.m.counters["sent"] += 1

    async def _edit_batch(self, times: list[int]) -> None:
        thread = self.ctx.plan["thread"]
        if not self.own:
            for sender, seq in self.ctx.plan["targets"]:
                self.own.setdefault(sender, []).append(seq)
        live = [p for p in self.peers if p.link is not None and p.user in self.own]
        if not live:
            return
        for scheduled in times:
            self.turn += 1
            peer = live[self.turn % len(live)]
            mine = self.own[peer.user]
            target = mine[(self.turn // len(live)) % len(mine)]
            self.sent_at[(peer.user, target, "")] = scheduled
            self.ids += 1
            body = body_stamp(self.options.body_size, scheduled, self.ids)
            try:
                await peer.send(Edit(id=self.ids, thread=thread, seq=target, body=body))
            except ConnectionError:
                self.m.counters["send_failed"] += 1
                continue
            self.m.counters["sent"] += 1

    def on_frame(self, peer: Peer, frame: Incoming, now: int) -> None:
        if frame.type == "update":
            self.last_arrival_ns = now
            self.m.counters["delivered"] += 1
            if frame.user is None or frame.target is None:
                return
            sent = self.sent_at.get((frame.user, frame.target, frame.emoji or ""))
            # Another worker's members reacted: their times are not known here, and a
            # reaction's update reaches most members in other workers, so latency is
            # sampled from the updates of this worker's own reactions.
            if sent is not None and self.latency is not None:
                self.latency.record(now, now - sent)
        elif frame.type == "ack":
            self.m.counters["acked"] += 1
            if frame.seq is None:
                self.m.counters["unchanged"] += 1
        elif frame.type == "error":
            self.m.counters[f"error_{frame.code}"] += 1

    def finish(self) -> Measurements:
        if self.latency is not None:
            self.m.add_series("delivery", self.latency)
        return self.m


Worker = Reactions


def summarize(m: Measurements, options: Options, plan: dict[str, Any],
              server: dict[str, Any] | None) -> dict[str, Any]:
    c = m.counters
    entries = c["acked"] - c["unchanged"]
    # Each entry reaches every connected member but the one who reacted (who got the ack).
    expected = entries * max(0, c["receivers"] - 1)
    c["lost"] = max(0, expected - c["delivered"])
    out = delivery_summary(m, options, server, unacked=True)
    out["members"] = options.connections
    out["updates"] = entries
    out["expected_deliveries"] = expected
    if server is not None and entries:
        out["cpu_us_per_update"] = server["cpu_seconds"] * 1e6 / entries
    return out
