"""The retry policy: one outcome per kind of send result."""

from __future__ import annotations

from push.retry import Done, DropToken, GiveUp, Retry, RetryPolicy
from push.sender import AuthFailed, Delivered, Rejected, Throttled, Unavailable, Unregistered

POLICY = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=60.0, retry_after_cap=30.0)


def no_jitter() -> float:
    return 0.0


def full_jitter() -> float:
    return 0.999999


def test_delivered_is_done() -> None:
    assert POLICY.decide(1, Delivered("x"), no_jitter) == Done()


def test_unregistered_drops_the_token_without_retry() -> None:
    assert POLICY.decide(1, Unregistered(), no_jitter) == DropToken()


def test_an_invalid_message_is_given_up_at_once() -> None:
    decision = POLICY.decide(1, Rejected("bad"), no_jitter)
    assert isinstance(decision, GiveUp)
    assert not decision.configuration_error


def test_bad_credentials_are_given_up_as_a_configuration_error() -> None:
    for status in (401, 403):
        decision = POLICY.decide(1, AuthFailed(status), no_jitter)
        assert isinstance(decision, GiveUp)
        assert decision.configuration_error


def test_throttling_honours_retry_after() -> None:
    assert POLICY.decide(1, Throttled(12.0), no_jitter) == Retry(12.0)


def test_retry_after_is_capped() -> None:
    assert POLICY.decide(1, Throttled(86_400.0), no_jitter) == Retry(30.0)


def test_throttling_without_retry_after_backs_off() -> None:
    assert POLICY.decide(3, Throttled(None), no_jitter) == Retry(2.0)


def test_outages_back_off_exponentially_with_jitter_within_bounds() -> None:
    for attempt, exponential in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)):
        low = POLICY.decide(attempt, Unavailable(503), no_jitter)
        high = POLICY.decide(attempt, Unavailable(None), full_jitter)
        assert low == Retry(exponential / 2)
        assert isinstance(high, Retry)
        assert exponential / 2 <= high.delay < exponential


def test_backoff_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=60.0)
    decision = policy.decide(50, Unavailable(500), full_jitter)
    assert isinstance(decision, Retry)
    assert decision.delay <= 60.0


def test_a_503_with_retry_after_waits_as_asked() -> None:
    assert POLICY.decide(1, Unavailable(503, retry_after=7.0), no_jitter) == Retry(7.0)


def test_the_last_attempt_gives_up() -> None:
    assert isinstance(POLICY.decide(5, Unavailable(500), no_jitter), GiveUp)
    assert isinstance(POLICY.decide(5, Throttled(1.0), no_jitter), GiveUp)
    assert isinstance(POLICY.decide(4, Unavailable(500), no_jitter), Retry)
