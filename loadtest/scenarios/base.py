"""What every scenario's worker side is made of: peers, pacing, draining.

A scenario is a module with ``prepare`` (in the parent, before the workers start: create
a group, pick a post), a :class:`Scenario` subclass (in each worker: connect its share of
the users, offer its share of the load, count what arrives) and ``summarize`` (in the
parent: turn merged measurements into the report's figures).

The worker's life: :meth:`Scenario.setup` (connect), then :meth:`Scenario.run` from the
common start time ``t0`` for ``duration`` seconds, then the drain (until nothing is
:meth:`Scenario.pending`, or nothing arrives for a while), then :meth:`Scenario.close`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import msgspec

from loadtest.links import Dialer, Link, LinkRefused
from loadtest.options import Options
from loadtest.recorder import Measurements
from loadtest.tokens import TokenSource
from protocol.codec import codec_for
from protocol.frames import ClientFrame

__all__ = [
    "Incoming",
    "Peer",
    "Scenario",
    "WorkerContext",
    "body_stamp",
    "pace",
    "read_stamp",
    "sleep_until",
    "wait_for_event",
]

_PROTOCOLS = ("rt.v1.json",)
_CONNECT_ATTEMPTS = 3
_QUIET_NS = 1_500_000_000


class Incoming(msgspec.Struct):
    """The fields of a server frame that the generator looks at; the rest is skipped."""

    type: str = ""
    id: int | str | None = None
    body: str | None = None
    thread: str | None = None
    seq: int | None = None
    cursor: str | None = None
    count: int | None = None
    post: str | None = None
    code: str | None = None
    user: str | None = None
    on: bool | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    target: int | None = None
    emoji: str | None = None


_decode_incoming = msgspec.json.Decoder(Incoming).decode
_encode_client = codec_for("rt.v1.json").encode_client


@dataclass
class WorkerContext:
    """What a worker is given: the run, its plan, and which share of it is its own."""

    options: Options
    plan: dict[str, Any]
    index: int
    count: int
    dialer: Dialer
    tokens: TokenSource | None

    def mine(self, n: int) -> range:
        """The indexes among ``n`` users that this worker owns."""
        return range(self.index, n, self.count)

    def url_for(self, slot: int) -> str:
        urls = self.options.urls
        return urls[slot % len(urls)]


class Peer:
    """One user's connection as the generator sees it.

    Every frame received goes to ``on_frame(peer, frame, now_ns)``; ``cursor`` follows
    the last ``welcome``, ``message`` or ``synced`` so that a reconnection can resume.
    """

    __slots__ = ("cursor", "link", "on_frame", "state", "task", "user", "welcomed")

    def __init__(self, user: str, on_frame: Callable[[Peer, Incoming, int], None]) -> None:
        self.user = user
        self.on_frame = on_frame
        self.link: Link | None = None
        self.task: asyncio.Task[None] | None = None
        self.cursor: str | None = None
        self.welcomed: asyncio.Future[None] | None = None
        self.state: Any = None
        """Whatever the scenario keeps per peer."""

    async def send(self, frame: ClientFrame) -> None:
        """Encode and send a client frame of the protocol."""
        assert self.link is not None
        await self.link.send(_encode_client(frame))  # type: ignore[arg-type]

    async def send_text(self, text: str) -> None:
        assert self.link is not None
        await self.link.send(text)

    async def _read(self, link: Link) -> None:
        decode, on_frame, clock = _decode_incoming, self.on_frame, time.monotonic_ns
        async for text in link.texts():
            try:
                frame = decode(text)
            except msgspec.DecodeError:
                continue
            if frame.cursor is not None:
                self.cursor = frame.cursor
            if frame.type == "welcome" and self.welcomed is not None:
                if not self.welcomed.done():
                    self.welcomed.set_result(None)
                continue
            on_frame(self, frame, clock())
        if self.welcomed is not None and not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError("closed before welcome"))

    async def open(self, ctx: WorkerContext, slot: int, *, groups: Iterable[str] = (),
                   resume: bool = False) -> None:
        """Connect (retrying a refused handshake a few times) and, on a node, wait for
        the ``welcome``. With ``resume``, ask the node to replay from :attr:`cursor`."""
        url = ctx.url_for(slot)
        headers: dict[str, str] = {}
        query: dict[str, str] = {}
        if ctx.options.bare:
            query["user"] = self.user
            if groups:
                query["groups"] = ",".join(groups)
        else:
            assert ctx.tokens is not None
            headers["Authorization"] = f"Bearer {await ctx.tokens.token(self.user)}"
            if resume and self.cursor is not None:
                query["cursor"] = self.cursor
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
        for attempt in range(_CONNECT_ATTEMPTS):
            try:
                link = await ctx.dialer.dial(url, headers=headers, protocols=_PROTOCOLS)
                break
            except LinkRefused:
                if attempt == _CONNECT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))  # a backoff between attempts
        self.link = link
        if ctx.options.target == "node":
            self.welcomed = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._read(link))
        if self.welcomed is not None:
            await asyncio.wait_for(asyncio.shield(self.welcomed), 30)

    def drop(self) -> None:
        """Lose the connection at once, as a phone losing its network."""
        if self.link is not None:
            self.link.abort()

    async def close(self) -> None:
        """Close the link and wait for the reader to finish. Idempotent."""
        link, task = self.link, self.task
        self.link, self.task = None, None
        if link is not None:
            await link.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def open_all(peers: Iterable[tuple[Peer, int, tuple[str, ...]]], concurrency: int,
                   *, resume: bool = False, ctx: WorkerContext) -> int:
    """Open every (peer, slot, groups), ``concurrency`` handshakes at a time; return
    how many failed (a failed peer is left without a link)."""
    gate = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(peer: Peer, slot: int, groups: tuple[str, ...]) -> None:
        nonlocal failed
        async with gate:
            try:
                await peer.open(ctx, slot, groups=groups, resume=resume)
            except (LinkRefused, ConnectionError, TimeoutError):
                failed += 1

    async with asyncio.TaskGroup() as group:
        for peer, slot, groups in peers:
            group.create_task(one(peer, slot, groups))
    return failed


async def pace(t0_ns: int, duration: float, rate: float,
               send: Callable[[list[int]], Awaitable[None]]) -> None:
    """Offer ``rate`` operations per second from ``t0_ns`` for ``duration`` seconds:
    call ``send(times)`` with the scheduled times (``time.monotonic_ns()``) of the
    operations due since the last call.

    The schedule is open-loop: a slow ``send`` makes the next batch larger, it does not
    lower the offered rate. Latencies measured from the scheduled time include any lag
    of the generator itself, so a stall cannot hide slow answers (coordinated omission).
    """
    end = t0_ns + int(duration * 1e9)
    total = int(duration * rate)
    step = 1e9 / rate if rate else 0.0
    done = 0
    clock = time.monotonic_ns
    await sleep_until(t0_ns)
    while done < total:
        now = clock()
        due = min(total, int((now - t0_ns) * rate / 1e9) + 1) if now < end else total
        if due > done:
            times = [t0_ns + int(k * step) for k in range(done, due)]
            done = due
            await send(times)
        if done < total:
            await asyncio.sleep(0.002)  # the schedule's tick


async def sleep_until(t_ns: int) -> None:
    """Return at ``t_ns`` (``time.monotonic_ns()``), or at once if it is past."""
    await asyncio.sleep(max(0, t_ns - time.monotonic_ns()) / 1e9)


async def wait_for_event(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    """Wait for ``event`` at most ``timeout`` seconds; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


def body_stamp(size: int, sent_ns: int, seq: int) -> str:
    """A message body of ``size`` bytes that carries its send time and sequence number."""
    head = f"{sent_ns} {seq} "
    return head + "x" * (size - len(head))


def read_stamp(body: str) -> tuple[int, int]:
    """(send time in ns, sequence number) from a body made by :func:`body_stamp`."""
    sent, seq, _ = body.split(" ", 2)
    return int(sent), int(seq)


class Scenario(abc.ABC):
    """The worker side of a scenario."""

    name: ClassVar[str]

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.options = ctx.options
        self.m = Measurements()
        self.peers: list[Peer] = []
        self.last_arrival_ns = 0

    @abc.abstractmethod
    async def setup(self) -> None:
        """Connect this worker's users; return once they can take load."""

    @abc.abstractmethod
    async def run(self, t0_ns: int) -> None:
        """Offer this worker's share of the load from ``t0_ns`` for the run's duration."""

    def pending(self) -> int | None:
        """How many expected arrivals are still missing; ``None`` if unknown here (the
        drain then waits until nothing arrives for a while)."""
        return None

    async def drain(self) -> None:
        """Wait for the last arrivals, within the run's ``drain`` seconds."""
        clock = time.monotonic_ns
        deadline = clock() + int(self.options.drain * 1e9)
        started = clock()
        while clock() < deadline:
            pending = self.pending()
            if pending == 0:
                return
            if pending is None and clock() - max(self.last_arrival_ns, started) > _QUIET_NS:
                return
            await asyncio.sleep(0.02)  # a poll interval of the drain

    def finish(self) -> Measurements:
        """The measurements, once the drain is over."""
        return self.m

    async def close(self) -> None:
        """Close every peer."""
        gate = asyncio.Semaphore(self.options.connect_concurrency)

        async def one(peer: Peer) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(peer.close(), 5)

        async with asyncio.TaskGroup() as group:
            for peer in self.peers:
                group.create_task(one(peer))
