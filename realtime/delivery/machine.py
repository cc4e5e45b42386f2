"""`DeliveryMachine`: the ordering and deduplication of one device's feed, sans-I/O.

The machine sees entries of a user's thread logs, each named by ``(thread, seq)`` and
placed at a store position ``pos``; it does not care what an entry is (a message, or any
other entry that takes the next ``seq`` of its thread's log). It is fed:

- a live entry, as publications arrive (:meth:`~DeliveryMachine.receive`), or any other
  event, which only keeps its place among them;
- the entries of a replay, page by page (:meth:`~DeliveryMachine.replayed`);
- this device's own sends: started, acked, failed (:meth:`~DeliveryMachine.sending`,
  :meth:`~DeliveryMachine.acked`, :meth:`~DeliveryMachine.sent`);
- a range it asked for, read from the store (:meth:`~DeliveryMachine.fetched`), or the
  failure to read it (:meth:`~DeliveryMachine.fetch_failed`);

and answers each input with actions: :class:`Emit` an entry or event (with the cursor
the device stands at after it), :class:`Fetch` a range of a thread, :class:`Resync`
(close with 1013: the client reconnects and syncs), :class:`ReplayDone` (send
``synced``). Its guarantees:

- every entry goes out at most once, and each thread's entries in ``seq`` order with no
  hole: an entry after a gap waits while the missing ones are fetched;
- a gap is always answered, by a :class:`Fetch` or a :class:`Resync`;
- a device is never handed its own message before its ack (the ack carries it);
- a replay and the live entries that arrive during it merge: what the replay carried is
  not emitted again;
- the cursor never claims a position the device may not have (see
  :class:`protocol.cursor.CursorTracker`).

The caller owns time: ``settled`` (see :mod:`realtime.watermark`) comes with the inputs
that may move the cursor.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from protocol.cursor import Cursor, CursorTracker

MAX_HELD = 10_000
"""Events held during a replay; past it the client is too far behind (1013)."""
MAX_ACKED = 1024
"""Own acked seqs remembered per thread (see :meth:`DeliveryMachine.acked`)."""
MAX_GAP = 500
"""Entries a gap may miss and still be fetched; past it: reconnect and sync."""


class Entry(Protocol):
    """An entry of a thread's log, as the machine orders it."""

    @property
    def thread(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def pos(self) -> int: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def cid(self) -> str | None: ...


class State(enum.Enum):
    SYNCING = "syncing"
    """Replaying from a cursor: live events are held until the replay is done."""
    LIVE = "live"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Emit:
    """Send ``item`` (a live event as received, or a fetched or replayed entry) to the
    device; ``cursor``: the cursor it carries (None: an event outside the thread logs)."""

    item: object
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Fetch:
    """Read ``thread``'s entries with ``after < seq < before``, in ``seq`` order, and
    answer with :meth:`DeliveryMachine.fetched`, or with
    :meth:`DeliveryMachine.fetch_failed` if the store cannot."""

    thread: str
    after: int
    before: int


@dataclass(frozen=True, slots=True)
class Resync:
    """The device is too far behind to be brought up to date here: close the connection
    with 1013; the client reconnects and syncs from its cursor."""


@dataclass(frozen=True, slots=True)
class ReplayDone:
    """The replay is complete: send ``synced`` with ``cursor``."""

    cursor: str


Action = Emit | Fetch | Resync | ReplayDone

RESYNC = Resync()
_NOTHING: tuple[Action, ...] = ()


class _Repair:
    """A thread whose gap is being fetched, and what arrived for it meanwhile."""

    __slots__ = ("held", "last", "upto")

    def __init__(self, last: int, upto: int, item: object, entry: Entry) -> None:
        self.last = last
        self.upto = upto
        self.held: list[tuple[object, Entry]] = [(item, entry)]


class DeliveryMachine:
    """The delivery decisions for one device of ``user``. ``ordered``: publications
    arrive in position order (one node, in-process broker)."""

    __slots__ = ("_acked", "_cursor", "_held", "_held_bytes", "_repairing", "_replay_from",
                 "_replayed_to", "_sending", "_seqs", "_start", "state", "user")

    def __init__(self, user: str, *, ordered: bool) -> None:
        self.user = user
        self.state = State.LIVE
        self._cursor = CursorTracker(0, ordered=ordered)
        self._start = 0
        """Entries at or below this position are not owed live: older than the session,
        or carried by its replay."""
        self._held: list[tuple[object, Entry | None]] = []
        self._held_bytes = 0
        """What the held events weigh encoded (see :meth:`receive`)."""
        self._seqs: dict[str, int] = {}
        """The last seq of each thread the device has (emitted, replayed, or skipped)."""
        self._acked: dict[str, set[int]] = {}
        self._sending: set[str] | None = None
        self._repairing: dict[str, _Repair] = {}
        self._replay_from = Cursor(0)
        self._replayed_to = 0

    @property
    def ordered(self) -> bool:
        return self._cursor.ordered

    @property
    def cursor(self) -> str:
        """The cursor the device stands at, in its wire form."""
        return self._cursor.text

    # -- the session's life ----------------------------------------------------------

    def hold(self) -> None:
        """Hold events until the replay that follows releases them."""
        self.state = State.SYNCING

    def start(self, head: int) -> None:
        """The client stands at ``head`` ("now"), as its ``welcome`` says."""
        self._cursor.reset(Cursor(head))
        self._start = head

    def close(self) -> None:
        """Nothing more goes out; fetches answered later are ignored."""
        self.state = State.CLOSED

    # -- this device's own sends -----------------------------------------------------

    def sending(self, cid: str) -> None:
        """This device sent ``cid``; until :meth:`sent`, the store may have it unacked."""
        if self._sending is None:
            self._sending = set()
        self._sending.add(cid)

    def sent(self, cid: str) -> None:
        """The send of ``cid`` is over: acked, failed, or abandoned."""
        if self._sending is not None:
            self._sending.discard(cid)

    def acked(self, thread: str, seq: int) -> None:
        """This device sent ``seq`` and got (or is getting) its ack: not a gap for it."""
        own = self._acked.setdefault(thread, set())
        own.add(seq)
        if len(own) > MAX_ACKED:
            # A device that only sends in a thread never consumes these; the oldest half
            # are the least likely to matter, and forgetting one risks a repeat, never a loss.
            own.difference_update(sorted(own)[: MAX_ACKED // 2])

    # -- live ------------------------------------------------------------------------

    def receive(self, item: object, entry: Entry | None, settled: int = 0, *,
                size: int = 0, room: int = sys.maxsize) -> Sequence[Action]:
        """An event for this user arrived: ``entry`` names its place in a thread's log,
        or is None for an event outside them (typing, receipts, presence...).

        While SYNCING the event is held: ``size`` is what it weighs encoded, ``room``
        what the connection's byte limit leaves beside what is queued already. Held
        events count toward that limit like queued ones: a client that stalls its replay
        cannot make the node hold more for it."""
        state = self.state
        if state is State.LIVE:
            return self._live(item, entry, settled)
        if state is State.SYNCING:
            self._held_bytes += size
            if len(self._held) >= MAX_HELD or self._held_bytes > room:
                return [RESYNC]
            self._held.append((item, entry))
        return _NOTHING

    def drop_held(self, stale: Callable[[object], bool]) -> None:
        """Drop the held events for which ``stale`` is true (a topic no longer followed,
        or whose current state is about to be sent)."""
        if self._held:
            self._held = [(item, entry) for item, entry in self._held if not stale(item)]

    def _live(self, item: object, entry: Entry | None, settled: int) -> Sequence[Action]:
        if entry is None:
            return [Emit(item, None)]
        thread = entry.thread
        repair = self._repairing.get(thread)
        if repair is not None:
            repair.held.append((item, entry))
            return _NOTHING
        seq = entry.seq
        last = self._last_seq(thread)
        if last is not None and seq <= last:
            return _NOTHING  # delivered already: replayed, fetched, or a duplicate
        if last is None and seq > 1 and not self._cursor.ordered:
            # The thread's first entry this session sees, in a cluster: earlier ones,
            # published by other nodes, may still be on their way. Fetch them rather
            # than drop them as duplicates when they come.
            last = 0
        if last is not None and seq > last + 1:
            missing = seq - last - 1
            if missing > MAX_GAP and last != 0:
                return [RESYNC]
            self._repairing[thread] = _Repair(last, seq, item, entry)
            # A first sight fetches at most MAX_GAP: older entries are older than the
            # session too, or can only be had by a sync.
            return [Fetch(thread, seq - 1 - min(missing, MAX_GAP), seq)]
        return [Emit(item, self._advance(thread, seq, entry.pos, settled))]

    def _last_seq(self, thread: str) -> int | None:
        """The last seq of ``thread`` this device has: delivered to it, or acked to it."""
        last = self._seqs.get(thread)
        if not self._acked:
            return last  # a device that never sent (most of a group's members)
        own = self._acked.get(thread)
        if last is not None and own:
            while last + 1 in own:
                own.discard(last + 1)
                last += 1
            self._seqs[thread] = last
        return last

    def _advance(self, thread: str, seq: int, pos: int, settled: int) -> str:
        """Record that entry ``seq`` of ``thread`` goes out; return the cursor after it."""
        self._seqs[thread] = seq
        tracker = self._cursor
        tracker.delivered(thread, seq, pos, 0 if tracker.ordered else settled)
        return tracker.text

    # -- gap repair ------------------------------------------------------------------

    def fetched(self, thread: str, entries: Iterable[Entry],
                settled: int = 0) -> Sequence[Action]:
        """The answer to a :class:`Fetch` of ``thread``: emit what the device is owed,
        then what arrived for the thread meanwhile."""
        repair = self._repairing.pop(thread, None)
        if repair is None or self.state is not State.LIVE:
            return _NOTHING
        first_sight = repair.last == 0
        own = self._acked.get(thread)
        sending = self._sending
        actions: list[Action] = []
        for m in entries:
            if first_sight and m.pos <= self._start:
                continue  # older than this session (or replayed): not owed live
            if own and m.seq in own:
                continue  # this device's own entry: its ack carried it
            if m.sender == self.user and sending and m.cid in sending:
                # This device's own send, committed but not acked yet: the ack carries it.
                self.acked(thread, m.seq)
                continue
            last_seq = self._last_seq(thread)
            if last_seq is None or m.seq > last_seq:
                actions.append(Emit(m, self._advance(thread, m.seq, m.pos, settled)))
        if first_sight:
            # Everything before the entry that showed the gap is now emitted or not owed.
            self._seqs[thread] = max(self._seqs.get(thread, 0), repair.upto - 1)
        held = repair.held
        held.sort(key=_seq_of)
        for item, entry in held:
            actions.extend(self._live(item, entry, settled))
        return actions

    def fetch_failed(self, thread: str) -> Sequence[Action]:
        """A :class:`Fetch` of ``thread`` could not be read: the client must resync."""
        self._repairing.pop(thread, None)
        return [RESYNC]

    # -- replay ----------------------------------------------------------------------

    def replay_started(self, cursor: Cursor) -> None:
        """A replay of every entry after ``cursor`` begins: hold live events until
        :meth:`replay_done`. Read the replay's pages after :attr:`replayed_to`, in
        position order, and pass each entry to :meth:`replayed`."""
        self.state = State.SYNCING
        self._cursor.reset(cursor)
        self._replay_from = cursor
        self._replayed_to = cursor.base

    @property
    def replayed_to(self) -> int:
        """The position of the last entry replayed (where the next page starts)."""
        return self._replayed_to

    def replayed(self, entry: Entry) -> Sequence[Action]:
        """The next entry of the replay, in position order."""
        pos = entry.pos
        self._replayed_to = pos
        # Pages are read in position order, which is commit order: everything up to
        # this entry is in the store, so the cursor's base can follow the replay.
        self._cursor.advance(pos)
        thread = entry.thread
        self._seqs[thread] = max(entry.seq, self._seqs.get(thread, 0))
        if self._replay_from.covers(thread, entry.seq, pos):
            return _NOTHING  # the client listed it: delivered before
        return [Emit(entry, self._cursor.text)]

    def replay_failed(self) -> None:
        """The replay ended without completing: what was held is dropped (the client
        is told, and syncs again)."""
        self._held = []
        self._held_bytes = 0
        if self.state is State.SYNCING:
            self.state = State.LIVE

    def replay_done(self, settled: int = 0) -> Sequence[Action]:
        """The replay read everything: ``synced``, then the events held meanwhile,
        minus the entries the replay already carried."""
        held, self._held = self._held, []
        self._held_bytes = 0
        if self.state is State.SYNCING:
            self.state = State.LIVE
        self._cursor.advance(self._replayed_to)
        self._start = self._replayed_to  # what the replay read up to is not owed live again
        actions: list[Action] = [ReplayDone(self._cursor.text)]
        for item, entry in held:
            actions.extend(self._live(item, entry, settled))
        return actions


def _seq_of(held: tuple[object, Entry]) -> int:
    return held[1].seq
