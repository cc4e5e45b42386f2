"""A node's recent activity: message rates and latency over the last minutes.

Every heartbeat the node reads its running totals (:func:`read_totals`, from the metrics
of :mod:`realtime.metrics`) and adds them to a :class:`StatsWindow`, which turns two
consecutive totals into one :class:`StatsPoint` (rates per second, latency quantiles of
the interval) and keeps the last ``span`` seconds of points. The window is pure: it is
given the time, and never reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import msgspec

from realtime import metrics


class Totals(msgspec.Struct, frozen=True):
    """Running totals since the process started."""

    received: float
    """Valid client frames read."""
    sent: float
    """Frames delivered to sessions."""
    errors: float
    """Error frames sent to clients."""
    commit_buckets: tuple[int, ...]
    """Messages per commit-latency bucket (``COMMIT_BOUNDS``, then +Inf)."""


class StatsPoint(msgspec.Struct, frozen=True):
    """One interval: when it ended (epoch ms), its rates per second and the commit latency
    of messages sent in it (seconds; an upper bound from the histogram's buckets, 0 when
    nothing was committed)."""

    t: int
    received: float
    sent: float
    errors: float
    sessions: int
    p50: float
    p99: float


COMMIT_BOUNDS: tuple[float, ...] = metrics.APPEND_DURATION.bounds


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` of the observations counted in
    ``counts`` (one per bound, then +Inf, reported as the largest bound); 0 when empty."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for bound, count in zip(bounds, counts, strict=False):
        seen += count
        if seen >= rank:
            return bound
    return bounds[-1]


class StatsWindow:
    """The points of the last ``span`` seconds, made from consecutive totals."""

    def __init__(self, span: float = 600.0) -> None:
        self._span_ms = int(span * 1000)
        self._last: tuple[int, Totals] | None = None
        self._points: deque[StatsPoint] = deque()

    def add(self, now: int, totals: Totals, sessions: int) -> StatsPoint | None:
        """Account the interval since the previous call (``now`` in epoch ms); return its
        point, or None on the first call or if no time has passed."""
        last, self._last = self._last, (now, totals)
        if last is None or now <= last[0]:
            return None
        then, before = last
        seconds = (now - then) / 1000
        delta = [b - a for a, b in zip(before.commit_buckets, totals.commit_buckets,
                                       strict=True)]
        point = StatsPoint(
            t=now,
            received=(totals.received - before.received) / seconds,
            sent=(totals.sent - before.sent) / seconds,
            errors=(totals.errors - before.errors) / seconds,
            sessions=sessions,
            p50=quantile(COMMIT_BOUNDS, delta, 0.5),
            p99=quantile(COMMIT_BOUNDS, delta, 0.99),
        )
        self._points.append(point)
        while self._points and now - self._points[0].t > self._span_ms:
            self._points.popleft()
        return point

    def points(self) -> list[StatsPoint]:
        """The points kept, oldest first."""
        return list(self._points)


def read_totals() -> Totals:
    """This process's totals now, from its metrics."""
    return Totals(
        received=metrics.MESSAGES_RECEIVED.total(),
        sent=metrics.MESSAGES_SENT.total(),
        errors=sum(sample.value for family in metrics.ERRORS.collect()
                   for sample in family.samples if sample.name.endswith("_total")),
        commit_buckets=metrics.APPEND_DURATION.total_counts(),
    )
