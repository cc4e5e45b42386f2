"""The lock-free counters and histograms read out as prometheus_client's own would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from realtime.metric_types import LoopCounter, LoopHistogram


def _exposition(*collectors: object) -> str:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_a_counter_counts_per_label_set() -> None:
    counter = LoopCounter("t_frames", "Frames.", ["type"], register=False)
    counter.labels(type="send").inc()
    counter.labels(type="send").inc(2)
    counter.labels(type="read").inc()
    text = _exposition(counter)
    assert 't_frames_total{type="send"} 3.0' in text
    assert 't_frames_total{type="read"} 1.0' in text


def test_a_value_on_a_bound_falls_in_that_bucket() -> None:
    histogram = LoopHistogram("t_seconds", "Time.", buckets=(0.1, 1.0), register=False)
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(value)
    text = _exposition(histogram)
    assert 't_seconds_bucket{le="0.1"} 2.0' in text
    assert 't_seconds_bucket{le="1.0"} 4.0' in text
    assert 't_seconds_bucket{le="+Inf"} 5.0' in text
    assert "t_seconds_count 5.0" in text
    assert "t_seconds_sum 8.65" in text
