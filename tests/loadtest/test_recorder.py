"""Measurements from several workers add up, second by second."""

from __future__ import annotations

from loadtest.recorder import LatencySeries, Measurements


def test_merging_adds_histograms_second_by_second_and_sums_counters() -> None:
    a, b = Measurements(), Measurements()
    first, second = LatencySeries(t0_ns=0), LatencySeries(t0_ns=0)
    first.record(now_ns=100, latency_ns=1_000_000)
    second.record(now_ns=100, latency_ns=3_000_000)
    second.record(now_ns=1_500_000_000, latency_ns=2_000_000)
    a.add_series("delivery", first)
    b.add_series("delivery", second)
    a.counters["delivered"] = 1
    b.counters["delivered"] = 2
    merged = Measurements()
    for part in (a, b):
        merged.merge(Measurements.from_wire(part.to_wire()))
    assert merged.counters["delivered"] == 3
    assert [row["count"] for row in merged.per_second("delivery")] == [2, 1]
    assert merged.histogram("delivery").get_total_count() == 3


def test_a_closed_loop_sender_s_stall_is_corrected_for_the_requests_it_delayed() -> None:
    series = LatencySeries(t0_ns=0, interval_us=10_000)
    series.record(now_ns=0, latency_ns=50_000_000)  # 50 ms, scheduled every 10 ms
    measurements = Measurements()
    measurements.add_series("ack", series)
    assert measurements.histogram("ack").get_total_count() == 5
