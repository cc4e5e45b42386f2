"""Counters and histograms cheap enough for a node's hot paths.

prometheus_client's own take a lock on every increment, so that threads can share
them: a node counts on one event loop thread, where the lock is pure cost (a few
microseconds per frame, several times per message). These keep plain numbers and
are read by the registry only when ``/metrics`` is scraped, in the same exposition
format and under the same names.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

_INF = float("inf")


class CounterChild:
    """One labelled series of a :class:`LoopCounter`."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramChild:
    """One labelled series of a :class:`LoopHistogram`: counts per bucket and a sum."""

    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le).
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value


ChildT = TypeVar("ChildT", CounterChild, HistogramChild)


class _Labelled(Collector, Generic[ChildT]):
    """A metric's series by label values, made on first use and registered once."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 register: bool) -> None:
        self.name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], ChildT] = {}
        if register:
            REGISTRY.register(self)

    def labels(self, **labels: str) -> ChildT:
        if not labels and not self._labelnames:
            # The unlabelled series, asked for on every observation of a plain metric.
            child = self._children.get(())
            if child is not None:
                return child
        key = tuple(str(labels[name]) for name in self._labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def _new_child(self) -> ChildT:
        raise NotImplementedError


class LoopCounter(_Labelled[CounterChild]):
    """A counter with optional labels, for code that runs on the event loop thread only."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), *,
                 register: bool = True) -> None:
        super().__init__(name, documentation, labelnames, register)

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def total(self) -> float:
        """The sum over every label set (for the status page's rates)."""
        return sum(child.value for child in list(self._children.values()))

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self.name, self._documentation, labels=self._labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self._documentation, labels=self._labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(list(key), child.value)
        return [family]


class LoopHistogram(_Labelled[HistogramChild]):
    """A histogram with optional labels, for code that runs on the event loop thread only."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), *,
                 buckets: Sequence[float], register: bool = True) -> None:
        self._bounds = tuple(sorted(float(b) for b in buckets if b != _INF))
        super().__init__(name, documentation, labelnames, register)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    @property
    def bounds(self) -> tuple[float, ...]:
        """The upper bounds of the buckets, without +Inf."""
        return self._bounds

    def total_counts(self) -> tuple[int, ...]:
        """Observations per bucket (then +Inf) summed over every label set."""
        totals = [0] * (len(self._bounds) + 1)
        for child in list(self._children.values()):
            for i, count in enumerate(child.counts):
                totals[i] += count
        return tuple(totals)

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self._documentation, labels=self._labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self._documentation,
                                       labels=self._labelnames)
        for key, child in list(self._children.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*self._bounds, _INF), child.counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            family.add_metric(list(key), buckets, child.sum)
        return [family]


def _le(bound: float) -> str:
    # prometheus_client's spelling of bucket bounds: "0.005", "1.0", "+Inf".
    return "+Inf" if bound == _INF else repr(bound)
