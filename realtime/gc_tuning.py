"""The cyclic garbage collector, tuned for a process that holds many long-lived objects.

A node keeps tens of thousands of connections, each a few hundred objects that the
collector tracks. With CPython's defaults (a young collection every 700 allocations, a
full one whenever the old generation grew by a quarter) the collector re-examined them
over and over: while 10,000 clients reconnected at once it took a third of the node's
CPU, and each full pass stalled the event loop. Collecting the young generation every
50,000 allocations, and the middle one every 20 of those, keeps the same guarantees
(every cycle is still collected) at a fraction of the passes; the objects made while
starting are frozen so that no pass ever looks at them again.

The price: garbage in reference cycles waits longer. What a connection leaves behind
must therefore be freed by reference counting: a closed session is in no cycle (its
feed and send queue drop their callbacks into it when closed), and a test checks it
with the collector off.
"""

from __future__ import annotations

import gc

YOUNG = 50_000
"""Allocations (minus deallocations) of tracked objects between young collections."""
MIDDLE = 20
"""Young collections between collections of the middle generation."""
OLD = 10
"""Middle collections before a full one is considered (CPython also waits for the old
generation to have grown by a quarter since the last one)."""


def tune_for_serving() -> None:
    """Freeze what exists now and make collections rarer; call once, after start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
