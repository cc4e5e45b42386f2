"""What a worker measures, and how workers' measurements merge into one.

Latencies are recorded in microseconds into one HDR histogram per second of the run
(so that percentiles over time can be plotted); the whole run's histogram is their sum.
Coordinated omission: open-loop senders stamp each message with its *scheduled* send
time, so a stalled generator shows as latency; a closed-loop sender (one request in
flight, as a liker waiting for its ack) records with ``record_corrected_value``, so a
latency longer than its scheduling interval also accounts for the requests it delayed.

A :class:`Measurements` crosses process boundaries as plain data (histograms as HDR's
compressed encoding), and :meth:`Measurements.merge` adds another worker's into it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["LatencySeries", "Measurements", "new_histogram", "percentiles"]

LOWEST_US = 1
HIGHEST_US = 120_000_000
DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    """An empty histogram of microseconds, from 1 µs to 2 minutes, 3 significant digits."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def percentiles(histogram: HdrHistogram) -> dict[str, float]:
    """count, p50/p90/p99/p99.9, max and mean of ``histogram``, latencies in milliseconds."""
    count = histogram.get_total_count()
    out: dict[str, float] = {"count": float(count)}
    for p in PERCENTILES:
        out[f"p{p:g}"] = histogram.get_value_at_percentile(p) / 1000 if count else 0.0
    out["max"] = histogram.get_max_value() / 1000 if count else 0.0
    out["mean"] = histogram.get_mean_value() / 1000 if count else 0.0
    return out


class LatencySeries:
    """Latencies of one kind (deliveries, acks), one histogram per second since ``t0``.

    ``interval_us`` is the scheduled interval between two sends of one sender, for the
    coordinated-omission correction; 0 records values as they are.
    """

    def __init__(self, t0_ns: int, interval_us: int = 0) -> None:
        self.t0_ns = t0_ns
        self.interval_us = interval_us
        self.seconds: list[HdrHistogram] = []

    def record(self, now_ns: int, latency_ns: int) -> None:
        """Record one latency observed at ``now_ns`` (``time.monotonic_ns()``)."""
        second = max(0, (now_ns - self.t0_ns) // 1_000_000_000)
        while len(self.seconds) <= second:
            self.seconds.append(new_histogram())
        value = min(max(latency_ns // 1000, LOWEST_US), HIGHEST_US)
        if self.interval_us:
            self.seconds[second].record_corrected_value(value, self.interval_us)
        else:
            self.seconds[second].record_value(value)

    def encode(self) -> list[bytes | None]:
        return [h.encode() if h.get_total_count() else None for h in self.seconds]


@dataclass
class Measurements:
    """Everything one worker (or, merged, the whole generator) measured.

    ``counters`` add up; ``series`` are per-second encoded histograms that add up second
    by second; ``samples`` are lists (per-connection figures) that concatenate.
    """

    counters: Counter[str] = field(default_factory=Counter)
    series: dict[str, list[bytes | None]] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)

    def add_series(self, name: str, series: LatencySeries) -> None:
        self.series[name] = series.encode()

    def merge(self, other: Measurements) -> None:
        """Add ``other`` into this one."""
        self.counters.update(other.counters)
        for name, seconds in other.series.items():
            mine = self.series.setdefault(name, [])
            for i, encoded in enumerate(seconds):
                if i >= len(mine):
                    mine.append(encoded)
                elif encoded is not None:
                    if mine[i] is None:
                        mine[i] = encoded
                    else:
                        merged = _decode(mine[i])
                        merged.decode_and_add(encoded)
                        mine[i] = merged.encode()
        for name, values in other.samples.items():
            self.samples.setdefault(name, []).extend(values)

    def histogram(self, name: str) -> HdrHistogram:
        """The whole run's histogram of series ``name`` (empty if none was recorded)."""
        total = new_histogram()
        for encoded in self.series.get(name, []):
            if encoded is not None:
                total.decode_and_add(encoded)
        return total

    def per_second(self, name: str) -> list[dict[str, float]]:
        """Percentiles of series ``name`` for each second of the run."""
        rows = []
        for encoded in self.series.get(name, []):
            rows.append(percentiles(_decode(encoded)) if encoded is not None
                        else percentiles(new_histogram()))
        return rows

    def to_wire(self) -> dict[str, Any]:
        return {"counters": dict(self.counters), "series": self.series, "samples": self.samples}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Measurements:
        return cls(Counter(data["counters"]), dict(data["series"]), dict(data["samples"]))


def _decode(encoded: bytes | None) -> HdrHistogram:
    histogram = new_histogram()
    if encoded is not None:
        histogram.decode_and_add(encoded)
    return histogram
