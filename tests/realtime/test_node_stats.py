"""The status page's numbers: rates and latency quantiles from consecutive totals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from realtime.node_stats import COMMIT_BOUNDS, StatsWindow, Totals, quantile

EMPTY = (0,) * (len(COMMIT_BOUNDS) + 1)


def totals(received: float, sent: float = 0, buckets: tuple[int, ...] = EMPTY) -> Totals:
    return Totals(received=received, sent=sent, errors=0, commit_buckets=buckets)


def test_the_first_totals_make_no_point() -> None:
    assert StatsWindow().add(1000, totals(5), sessions=1) is None


def test_rates_are_per_second_over_the_interval() -> None:
    window = StatsWindow()
    window.add(1000, totals(10, 4), sessions=1)
    point = window.add(3000, totals(30, 10), sessions=2)
    assert point is not None
    assert (point.received, point.sent, point.sessions) == (10.0, 3.0, 2)


def test_quantiles_come_from_the_intervals_own_observations() -> None:
    window = StatsWindow()
    before = list(EMPTY)
    before[0] = 1000  # old observations, all fast: not this interval's
    window.add(0, totals(0, buckets=tuple(before)), sessions=0)
    after = list(before)
    after[3] += 98  # this interval: 98 at the 4th bound, 2 at the 8th
    after[7] += 2
    point = window.add(1000, totals(0, buckets=tuple(after)), sessions=0)
    assert point is not None
    assert (point.p50, point.p99) == (COMMIT_BOUNDS[3], COMMIT_BOUNDS[7])


def test_points_older_than_the_span_are_dropped() -> None:
    window = StatsWindow(span=10)
    for t in range(0, 30_001, 5000):
        window.add(t, totals(t), sessions=0)
    assert [p.t for p in window.points()] == [20_000, 25_000, 30_000]


@given(st.lists(st.integers(0, 50), min_size=len(COMMIT_BOUNDS) + 1,
                max_size=len(COMMIT_BOUNDS) + 1), st.floats(0.01, 1.0))
def test_a_quantile_is_a_bucket_bound_and_grows_with_q(counts: list[int], q: float) -> None:
    value = quantile(COMMIT_BOUNDS, counts, q)
    if sum(counts) == 0:
        assert value == 0.0
    else:
        assert value in COMMIT_BOUNDS
        assert quantile(COMMIT_BOUNDS, counts, min(1.0, q + 0.1)) >= value
