"""The delivery state machine under what a cluster can do to publications: reordered,
duplicated and dropped, with this device's own sends and replays in between.

A model of the store and of the broker drives :class:`DeliveryMachine` through random
runs and checks its guarantees after every step: each entry emitted at most once and,
once the device has seen a later one of its thread, exactly once; each thread's entries
in ``seq`` order with no hole; a device never handed its own message live; a gap always
answered by a fetch or a resync; a cursor never claiming an entry the device lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from protocol.cursor import parse_cursor
from realtime.delivery.machine import (
    MAX_GAP,
    MAX_HELD,
    DeliveryMachine,
    Emit,
    Fetch,
    ReplayDone,
    Resync,
    State,
)

ME = "me"
THREADS = ("t1", "t2", "t3")


@dataclass(frozen=True)
class Entry:
    thread: str
    seq: int
    pos: int
    sender: str | None
    cid: str | None = None


@dataclass(frozen=True)
class Live:
    """A publication as the broker hands it over (what the feed passes as the item)."""

    entry: Entry


@dataclass
class Model:
    """The store's thread logs, as the test commits entries to them."""

    logs: dict[str, list[Entry]] = field(default_factory=lambda: {t: [] for t in THREADS})
    head: int = 0

    def commit(self, thread: str, sender: str, cid: str | None = None) -> Entry:
        self.head += 1
        entry = Entry(thread, len(self.logs[thread]) + 1, self.head, sender, cid)
        self.logs[thread].append(entry)
        return entry

    def entries(self, thread: str, after: int, before: int) -> list[Entry]:
        return [e for e in self.logs[thread] if after < e.seq < before]

    def after(self, pos: int) -> list[Entry]:
        return sorted((e for log in self.logs.values() for e in log if e.pos > pos),
                      key=lambda e: e.pos)


class DeliveryRun(RuleBasedStateMachine):
    """One device's session; ``ordered`` runs deliver in position order and lose nothing,
    as the in-process broker does; the others reorder, repeat and lose publications."""

    @initialize(ordered=st.booleans(), before=st.lists(st.sampled_from(THREADS), max_size=6))
    def connect(self, ordered: bool, before: list[str]) -> None:
        self.ordered = ordered
        self.model = Model()
        for thread in before:
            self.model.commit(thread, "ann")
        self.machine = DeliveryMachine(ME, ordered=ordered)
        self.session_head = self.model.head
        self.machine.start(self.session_head)
        self.pool: list[Entry] = []
        """Publications on their way to this node."""
        self.dropped: set[Entry] = set()
        self.fetches: dict[str, Fetch] = {}
        self.emitted: list[Entry] = []
        """Entries emitted live or from a fetch, in order."""
        self.replayed: list[Entry] = []
        self.events_in: list[object] = []
        self.events_out: list[object] = []
        self.received: dict[str, int] = {}
        """The largest seq of each thread that reached the machine live."""
        self.own: dict[str, Entry | None] = {}
        """This device's sends in flight, by cid: the entry once committed."""
        self.own_entries: set[Entry] = set()
        self.resynced = False
        self.held_for_repair: set[Entry] = set()
        """Entries that waited for a fetch of their thread (see the xfail test below)."""
        self.lost_to_sync: set[Entry] = set()
        """Entries whose fetch was answered during a replay that the cursor had passed."""
        self.replay_from_pos: int | None = None
        self.page = []
        self.last_page = False
        self.cid_count = 0

    # -- the world -------------------------------------------------------------------

    @rule(thread=st.sampled_from(THREADS))
    def someone_sends(self, thread: str) -> None:
        self.pool.append(self.model.commit(thread, "ann"))

    @rule(thread=st.sampled_from(THREADS), commits=st.booleans())
    def this_device_sends(self, thread: str, commits: bool) -> None:
        self.cid_count += 1
        cid = f"c{self.cid_count}"
        self.machine.sending(cid)
        if commits:
            # Its publication never reaches this session (the ack carries it).
            entry = self.model.commit(thread, ME, cid)
            self.own[cid] = entry
            self.own_entries.add(entry)
        else:
            self.own[cid] = None

    @precondition(lambda self: self.own)
    @rule(data=st.data())
    def the_send_ends(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(sorted(self.own)))
        entry = self.own.pop(cid)
        if entry is not None:
            self.machine.acked(entry.thread, entry.seq)
        self.machine.sent(cid)

    @precondition(lambda self: self.pool and not self.resynced)
    @rule(data=st.data(), again=st.booleans())
    def a_publication_arrives(self, data: st.DataObject, again: bool) -> None:
        index = 0 if self.ordered else data.draw(st.integers(0, len(self.pool) - 1))
        entry = self.pool[index]
        if not again:
            del self.pool[index]
        self.received[entry.thread] = max(self.received.get(entry.thread, 0), entry.seq)
        self.carry_out(self.machine.receive(Live(entry), entry, self.settled()))

    @precondition(lambda self: self.pool and not self.ordered)
    @rule(data=st.data())
    def a_publication_is_lost(self, data: st.DataObject) -> None:
        entry = self.pool.pop(data.draw(st.integers(0, len(self.pool) - 1)))
        self.dropped.add(entry)

    @precondition(lambda self: not self.resynced)
    @rule()
    def an_event_outside_the_logs_arrives(self) -> None:
        event = object()
        self.events_in.append(event)
        self.carry_out(self.machine.receive(event, None, self.settled()))

    @precondition(lambda self: self.fetches)
    @rule(data=st.data(), fails=st.booleans())
    def the_store_answers(self, data: st.DataObject, fails: bool) -> None:
        thread = data.draw(st.sampled_from(sorted(self.fetches)))
        fetch = self.fetches.pop(thread)
        if self.machine.state is not State.LIVE:
            # A replay began meanwhile: what waited for this fetch is dropped, and the
            # replay carries it only if the client's cursor had not passed it.
            self.lost_to_sync |= {e for e in self.held_for_repair
                                  if e.thread == thread and e not in self.emitted}
        if fails:
            actions = self.machine.fetch_failed(thread)
            assert list(actions) == [Resync()]
            self.resynced = True
            return
        self.carry_out(self.machine.fetched(
            thread, self.model.entries(thread, fetch.after, fetch.before), self.settled()))

    # -- a replay --------------------------------------------------------------------

    @precondition(lambda self: self.machine.state is State.LIVE and not self.resynced)
    @rule()
    def the_client_syncs(self) -> None:
        cursor = parse_cursor(self.machine.cursor)
        self.check_cursor(self.machine.cursor)
        self.machine.replay_started(cursor)
        self.replay_cursor = cursor
        self.replay_from_pos = cursor.base
        self.page: list[Entry] = []
        self.last_page = False

    @precondition(lambda self: self.machine.state is State.SYNCING and not self.page
                  and not self.last_page)
    @rule(size=st.integers(1, 3))
    def the_replay_reads_a_page(self, size: int) -> None:
        self.page = self.model.after(self.machine.replayed_to)[:size]
        self.last_page = len(self.page) < size

    @precondition(lambda self: self.machine.state is State.SYNCING and self.page)
    @rule()
    def the_replay_sends_one(self) -> None:
        entry = self.page.pop(0)
        for action in self.machine.replayed(entry):
            assert isinstance(action, Emit) and action.item is entry
            assert not self.replay_cursor.covers(entry.thread, entry.seq, entry.pos)
            # What a replay repeats is what the client's cursor did not list: never an
            # entry emitted to it before, except its own (which it has by their acks).
            if entry not in self.own_entries:
                assert entry not in self.emitted, f"{entry} emitted live, then replayed"
            self.replayed.append(entry)
            self.check_cursor(action.cursor)

    @precondition(lambda self: self.machine.state is State.SYNCING and not self.page
                  and self.last_page)
    @rule()
    def the_replay_ends(self) -> None:
        actions = list(self.machine.replay_done(self.settled()))
        assert isinstance(actions[0], ReplayDone)
        self.check_cursor(actions[0].cursor)
        self.carry_out(actions[1:])

    # -- carrying out ----------------------------------------------------------------

    def note_held(self) -> None:
        for thread in self.fetches:
            self.held_for_repair |= {e for e in self.model.logs[thread]
                                     if e.seq <= self.received.get(thread, 0)
                                     and e not in self.emitted}

    def settled(self) -> int:
        """The watermark: every publication at or below it has arrived (or was lost)."""
        waiting = [e.pos for e in self.pool] + [e.pos for e in self.dropped]
        return (min(waiting) - 1) if waiting else self.model.head

    def carry_out(self, actions: object) -> None:
        cursors: list[str | None] = []
        for action in actions:  # type: ignore[attr-defined]
            if isinstance(action, Resync):
                self.resynced = True
            elif isinstance(action, Fetch):
                assert action.thread not in self.fetches, "two fetches of one thread"
                assert 0 < action.before - action.after - 1 <= MAX_GAP
                self.fetches[action.thread] = action
            else:
                assert isinstance(action, Emit)
                if self.emit(action):
                    cursors.append(action.cursor)
        # The frames of one batch go out together: a cursor may count what follows it.
        self.note_held()
        for cursor in cursors:
            self.check_cursor(cursor)

    def emit(self, action: Emit) -> bool:
        """Check and record an emitted item; True for an entry that reached the client."""
        item = action.item
        if action.cursor is None:
            assert item in self.events_in
            self.events_out.append(item)
            return False
        entry = item.entry if isinstance(item, Live) else item
        assert isinstance(entry, Entry)
        if self.resynced:
            return False  # the connection is closing: nothing more reaches the client
        assert entry.sender != ME, f"the device was handed its own {entry}"
        assert entry not in self.emitted, f"{entry} emitted twice"
        assert entry.pos > self.session_head or self.replay_from_pos is not None, \
            f"{entry} is older than the session"
        had = self.had(entry.thread)
        assert entry.seq == 1 or entry.seq - 1 in had, \
            f"{entry} emitted before seq {entry.seq - 1} of its thread"
        self.emitted.append(entry)
        return True

    def had(self, thread: str) -> set[int]:
        """The seqs of ``thread`` the device has: old, its own, emitted or replayed."""
        return {e.seq for e in self.model.logs[thread]
                if e.pos <= self.session_head or e in self.own_entries
                or e in self.emitted or e in self.replayed}

    def check_cursor(self, text: str | None) -> None:
        """A cursor never covers an entry the device may lack, except one that waited
        for a fetch of its thread (see the xfail test below)."""
        assert text is not None
        cursor = parse_cursor(text)
        for log in self.model.logs.values():
            for e in log:
                if e in self.own_entries or e in self.held_for_repair:
                    continue
                if cursor.covers(e.thread, e.seq, e.pos):
                    assert (e.pos <= self.session_head or e in self.emitted
                            or e in self.replayed
                            or e in self.dropped), f"cursor {cursor} claims {e}"

    # -- the guarantees, after every step ----------------------------------------------

    @invariant()
    def events_outside_the_logs_pass_in_order(self) -> None:
        if self.machine.state is State.LIVE and not self.resynced:
            assert self.events_out == self.events_in[: len(self.events_out)]

    @invariant()
    def a_gap_is_answered(self) -> None:
        """Once the device saw an entry of a thread, and no fetch of it is pending, it
        has every entry of the thread before it: emitted, replayed, or its own."""
        if self.resynced or self.machine.state is not State.LIVE:
            return
        for thread, upto in self.received.items():
            if thread in self.fetches:
                continue
            had = self.had(thread) | {e.seq for e in self.lost_to_sync if e.thread == thread}
            missing = [s for s in range(1, upto + 1) if s not in had]
            assert not missing, f"{thread}: seqs {missing} never emitted, no fetch pending"


DeliveryRun.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_delivery_guarantees = DeliveryRun.TestCase


def test_a_gap_too_large_to_fetch_asks_for_a_resync() -> None:
    machine = DeliveryMachine(ME, ordered=True)
    machine.start(0)
    first = Entry("t1", 1, 1, "ann")
    assert list(machine.receive(first, first)) == [Emit(first, "1")]
    far = Entry("t1", MAX_GAP + 3, MAX_GAP + 3, "ann")
    assert list(machine.receive(far, far)) == [Resync()]


def test_a_gap_of_the_largest_fetchable_size_is_fetched() -> None:
    machine = DeliveryMachine(ME, ordered=True)
    machine.start(0)
    first = Entry("t1", 1, 1, "ann")
    machine.receive(first, first)
    far = Entry("t1", MAX_GAP + 2, MAX_GAP + 2, "ann")
    assert list(machine.receive(far, far)) == [Fetch("t1", 1, MAX_GAP + 2)]


def test_a_replay_holding_too_many_events_asks_for_a_resync() -> None:
    machine = DeliveryMachine(ME, ordered=True)
    machine.hold()
    for _ in range(MAX_HELD):
        assert list(machine.receive(object(), None)) == []
    assert list(machine.receive(object(), None)) == [Resync()]


def test_a_failed_replay_drops_what_it_held_and_goes_live() -> None:
    machine = DeliveryMachine(ME, ordered=True)
    machine.hold()
    machine.receive("typing", None)
    machine.replay_failed()
    assert machine.state is State.LIVE
    assert list(machine.receive("receipt", None)) == [Emit("receipt", None)]
    assert list(machine.replay_done()) == [ReplayDone("0")]


@pytest.mark.xfail(strict=True, reason="a known limit: the cursor may pass an entry held "
                   "while its thread's gap is fetched; a connection lost in that window "
                   "misses the entry on its next sync")
def test_the_cursor_never_passes_an_entry_held_for_a_repair() -> None:
    machine = DeliveryMachine(ME, ordered=True)
    machine.start(0)
    one = Entry("t1", 1, 1, "ann")
    machine.receive(one, one)
    machine.sending("mine")  # this device's t1 seq 2, at pos 2, not acked yet
    three = Entry("t1", 3, 3, "ann")
    assert list(machine.receive(three, three)) == [Fetch("t1", 2, 3)]
    other = Entry("t2", 1, 4, "bob")
    (emit,) = machine.receive(other, other)
    assert isinstance(emit, Emit) and emit.cursor is not None
    assert not parse_cursor(emit.cursor).covers("t1", 3, 3)


def test_a_closed_machine_emits_nothing() -> None:
    machine = DeliveryMachine(ME, ordered=True)
    machine.close()
    entry = Entry("t1", 1, 1, "ann")
    assert list(machine.receive(entry, entry)) == []
