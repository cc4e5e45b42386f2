"""A token bucket for per-connection rate limits.

Pure: the caller passes the clock in (``time.monotonic()`` in the server, made-up
instants in tests), so the bucket never reads time itself.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allows bursts of up to ``burst`` units, refilled at ``rate`` units per second.

    The bucket starts full at instant ``now`` (seconds, any monotonic origin). Each
    :meth:`take` first refills for the time elapsed since the previous call, never
    above ``burst``, then spends the units if enough are there.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    @property
    def tokens(self) -> float:
        """Units available as of the last call (not refilled to the present)."""
        return self._tokens

    def take(self, now: float, n: float = 1) -> bool:
        """Spend ``n`` units at instant ``now`` and return ``True``, or return ``False``.

        A refused take spends nothing. An instant earlier than the previous one (a clock
        that went backwards) refills nothing.
        """
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._last = now
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False
