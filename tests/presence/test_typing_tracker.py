"""Typing indicators: throttled, self-expiring, cleared by off or a message."""

from presence.typing import TypingTracker


def test_first_on_is_relayed() -> None:
    assert TypingTracker().on("ann", "t", now=0.0) is True


def test_repeats_within_the_throttle_window_are_dropped() -> None:
    tracker = TypingTracker(throttle=3.0)
    tracker.on("ann", "t", now=0.0)
    assert [tracker.on("ann", "t", now=t) for t in (0.5, 1.0, 2.9)] == [False] * 3


def test_an_on_after_the_window_is_relayed_again() -> None:
    tracker = TypingTracker(throttle=3.0)
    tracker.on("ann", "t", now=0.0)
    assert tracker.on("ann", "t", now=3.0) is True


def test_throttle_is_per_user_and_thread() -> None:
    tracker = TypingTracker()
    tracker.on("ann", "t", now=0.0)
    assert tracker.on("ann", "u", now=0.1) is True
    assert tracker.on("bob", "t", now=0.1) is True


def test_an_on_expires_without_refresh() -> None:
    tracker = TypingTracker(expiry=6.0)
    tracker.on("ann", "t", now=0.0)
    assert tracker.expire(now=5.9) == []
    assert tracker.expire(now=6.0) == [("ann", "t")]
    assert len(tracker) == 0


def test_a_refresh_postpones_expiry_even_when_throttled() -> None:
    tracker = TypingTracker(throttle=3.0, expiry=6.0)
    tracker.on("ann", "t", now=0.0)
    tracker.on("ann", "t", now=2.0)  # dropped by the throttle, but refreshes
    assert tracker.expire(now=7.0) == []
    assert tracker.expire(now=8.0) == [("ann", "t")]


def test_off_ends_typing_once() -> None:
    tracker = TypingTracker()
    tracker.on("ann", "t", now=0.0)
    assert tracker.off("ann", "t") is True
    assert tracker.off("ann", "t") is False


def test_off_for_what_was_not_on_is_dropped() -> None:
    assert TypingTracker().off("ann", "t") is False
