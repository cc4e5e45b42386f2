"""Steady DM traffic through :class:`realtime_client.Client`, and its verification.

Each :class:`Member` is one user with one client, sending numbered DMs to its partner on
another node. A send is retried with the same ``cid`` until it is acked (a retry of a
stored message returns the original), so every message the run attempts ends acked or
is reported as unacked. The body of each message is its ``cid``: recipients do not get
the ``cid`` field, and the body lets them tell a duplicate stored under two ``seq``
from a frame delivered twice.

:func:`verify` then compares what was acked with what the store holds and with what
every recipient got off the wire, before the client's own guard against repeats: the
server's exactly-once is what is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.frames import Message, ServerFrame, Welcome
from realtime_client import Client, ClientClosed, ClientError

__all__ = ["Acked", "Member", "RecordingClient", "Stored", "Verdict", "catch_up", "stored_messages",
           "sync", "verify"]

SEND_TIMEOUT = 15.0
"""Longest wait for one answer; then the same ``cid`` is sent again."""
RETRY = 0.1
"""Seconds between two attempts of one message."""
_LOCAL_FAILURES = ("connection lost", "not connected")
"""Messages of a ``ClientError`` that the client raised itself (no server answer)."""


class RecordingClient(Client):
    """A client that records every ``message`` frame as it comes off the wire, and
    counts its ``welcome`` frames (one per connection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wire: list[Message] = []
        self.arrived = asyncio.Event()
        self.welcomes = 0

    def _dispatch(self, frame: ServerFrame) -> None:
        if isinstance(frame, Message):
            self.wire.append(frame)
            self.arrived.set()
        elif isinstance(frame, Welcome):
            self.welcomes += 1
        super()._dispatch(frame)


@dataclass(frozen=True)
class Acked:
    """A message as its sender's ack described it."""

    sender: str
    thread: str
    seq: int
    cid: str
    at: float


@dataclass(frozen=True)
class Stored:
    """A message as the store holds it."""

    thread: str
    seq: int
    cid: str | None


@dataclass
class Member:
    """One user: a client on one node, sending to user ``to`` (a DM) or to ``thread``
    every ``interval`` s, bodies of ``body_size`` bytes (0: the bare ``cid``)."""

    user: str
    client: RecordingClient
    to: str | None = None
    thread: str | None = None
    body_size: int = 0
    acked: list[Acked] = field(default_factory=list)
    unacked: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at each ack."""
    refused: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at the first failed attempt."""
    _events: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start consuming the client's events (they would pile up in memory)."""
        self._events = asyncio.create_task(self._consume(), name=f"events {self.user}")

    async def _consume(self) -> None:
        with contextlib.suppress(ClientError):
            async for _ in self.client.events():
                pass

    async def close(self) -> None:
        await self.client.close()
        if self._events is not None:
            self._events.cancel()
            await asyncio.wait([self._events])

    async def acks(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once ``count`` more of this member's messages are acked; raise
        :class:`TimeoutError` after ``timeout`` seconds."""
        target = len(self.acked) + count
        async with asyncio.timeout(timeout):
            while len(self.acked) < target:
                self.progress.clear()
                await self.progress.wait()

    async def run(self, stop: asyncio.Event, interval: float, give_up: float) -> None:
        """Send until ``stop`` is set; each message until acked, or until ``give_up``
        seconds after ``stop`` (it is then counted as unacked)."""
        number = 0
        await asyncio.sleep(random.uniform(0, interval))  # spread the members' phases
        while not stop.is_set():
            cid = f"{self.user}-{number}"
            number += 1
            if not await self._send_until_acked(cid, stop, give_up):
                self.unacked.append(cid)
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    def _body(self, cid: str) -> str:
        return f"{cid} ".ljust(self.body_size, "x") if self.body_size else cid

    async def _send_until_acked(self, cid: str, stop: asyncio.Event, give_up: float) -> bool:
        deadline: float | None = None
        while True:
            if stop.is_set() and deadline is None:
                deadline = time.monotonic() + give_up
            if deadline is not None and time.monotonic() > deadline:
                return False
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    ack = await self.client.send(self._body(cid), to=self.to,
                                                 thread=self.thread, cid=cid)
            except ClientClosed:
                self.errors["client_closed"] += 1
                return False
            except ClientError as exc:
                local = exc.message in _LOCAL_FAILURES
                self.errors[f"{exc.code}{' (no connection)' if local else ''}"] += 1
            except TimeoutError:
                self.errors["no answer"] += 1
            else:
                assert ack.thread is not None and isinstance(ack.seq, int)
                self.acked.append(Acked(self.user, ack.thread, ack.seq, cid, time.monotonic()))
                self.progress.set()
                return True
            self.refused.set()
            await asyncio.sleep(RETRY)  # a retry interval, not a wait for an outcome


async def stored_messages(get: Callable[[str], Awaitable[Any]], thread: str) -> list[Stored]:
    """Every message of ``thread`` in the store, read page by page over the HTTP API;
    ``get(path)`` returns the JSON answer of a node's API to ``GET path``."""
    out: list[Stored] = []
    before: int | None = None
    while True:
        query = f"?limit=200{'' if before is None else f'&before={before}'}"
        page = await get(f"/v1/threads/{thread}/messages{query}")
        messages = page["messages"]
        out += [Stored(thread, int(m["seq"]), m.get("cid")) for m in messages]
        if not page["more"] or not messages:
            return out
        before = min(int(m["seq"]) for m in messages)


async def catch_up(clients: dict[str, RecordingClient], owed: dict[str, set[tuple[str, int]]],
                    settle: float) -> float:
    """Wait until every client got what it is owed, at most ``settle`` s; return how
    long it took."""
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(settle):
            for user, client in clients.items():
                while not owed.get(user, set()) <= {(m.thread, m.seq) for m in client.wire}:
                    client.arrived.clear()
                    await client.arrived.wait()
    return time.monotonic() - started


async def sync(client: RecordingClient) -> bool:
    """Ask for everything after the client's cursor; ``False`` if it never answered."""
    for _ in range(50):
        try:
            async with asyncio.timeout(10):
                await client.sync()
            return True
        except (ClientError, TimeoutError):
            await asyncio.sleep(0.2)  # a retry interval while it reconnects
    return False


@dataclass
class Verdict:
    """What :func:`verify` found."""

    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    not_stored: list[tuple[str, int]] = field(default_factory=list)
    stored_twice: list[str] = field(default_factory=list)
    missing: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    twice: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.acked} acked, {self.lost} lost, {self.duplicated} duplicated"

    def as_dict(self) -> dict[str, Any]:
        return {
            "acked": self.acked, "lost": self.lost, "duplicated": self.duplicated,
            "not_stored": self.not_stored[:20], "stored_twice": self.stored_twice[:20],
            "missing": {u: v[:20] for u, v in self.missing.items()},
            "twice": {u: v[:20] for u, v in self.twice.items()},
        }


def verify(acked: list[Acked], stored: list[Stored], owed: dict[str, set[tuple[str, int]]],
           wire: dict[str, list[Message]]) -> Verdict:
    """Check every acked message against the store and every recipient's wire.

    A message is lost when its ``(thread, seq)`` is not stored under its ``cid``, or
    when a member it is ``owed`` to never got it; duplicated when its ``cid`` is stored
    under two ``seq``, or when a member got its ``(thread, seq)`` more than once (a
    message counts once, however many members lost or doubled it).
    """
    verdict = Verdict(acked=len(acked))
    by_position = {(s.thread, s.seq): s.cid for s in stored}
    lost: set[tuple[str, int]] = set()
    doubled: set[tuple[str, int]] = set()
    for message in acked:
        key = (message.thread, message.seq)
        if by_position.get(key) != message.cid:
            verdict.not_stored.append(key)
            lost.add(key)
    cids = Counter((s.thread, s.cid) for s in stored if s.cid is not None)
    verdict.stored_twice = sorted(cid for (_, cid), n in cids.items() if n > 1)
    acked_at = {m.cid: (m.thread, m.seq) for m in acked}
    doubled.update(acked_at[c] for c in verdict.stored_twice if c in acked_at)
    for user, messages in wire.items():
        got = Counter((m.thread, m.seq) for m in messages)
        missing = sorted(owed.get(user, set()) - set(got))
        twice = sorted(k for k, n in got.items() if n > 1)
        if missing:
            verdict.missing[user] = missing
        if twice:
            verdict.twice[user] = twice
        lost.update(missing)
        doubled.update(twice)
    verdict.lost = len(lost)
    verdict.duplicated = len(doubled)
    return verdict
