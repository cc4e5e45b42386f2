"""TokenBucket: bursts, refill, ceiling, and multi-unit takes."""

import pytest

from realtime.ratelimit import TokenBucket


def test_a_full_burst_is_allowed_at_once_then_refused() -> None:
    bucket = TokenBucket(rate=20, burst=100, now=0.0)
    assert all(bucket.take(0.0) for _ in range(100))
    assert not bucket.take(0.0)


def test_tokens_refill_at_the_configured_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5, now=0.0)
    for _ in range(5):
        assert bucket.take(0.0)
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1)  # one token after 0.1 s at 10/s
    assert not bucket.take(0.1)


def test_idle_time_never_fills_above_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert bucket.take(1000.0, 3)
    assert not bucket.take(1000.0)


def test_a_take_of_several_units_spends_them_all_or_none() -> None:
    bucket = TokenBucket(rate=1, burst=5, now=0.0)
    assert bucket.take(0.0, 4)
    assert not bucket.take(0.0, 2)
    assert bucket.tokens == pytest.approx(1)
    assert bucket.take(0.0, 1)


def test_a_clock_going_backwards_refills_nothing() -> None:
    bucket = TokenBucket(rate=10, burst=2, now=10.0)
    assert bucket.take(10.0, 2)
    assert not bucket.take(5.0)
    assert not bucket.take(10.0)


def test_a_zero_rate_bucket_never_refills() -> None:
    bucket = TokenBucket(rate=0, burst=1, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(1e9)


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (1, 0)])
def test_nonsense_settings_are_rejected(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst, now=0.0)
