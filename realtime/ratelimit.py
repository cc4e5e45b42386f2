"""A token bucket for per-connection rate limits.

Pure: the caller passes the clock in (``time.monotonic()`` in the server, made-up
instants in tests), so the bucket never reads time itself.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["KeyedBuckets", "TokenBucket"]


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


class KeyedBuckets:
    """One :class:`TokenBucket` per key (a user), made on the key's first take.

    At most ``max_keys`` buckets are kept, the least recently used forgotten first: a
    forgotten key starts again with a full bucket, which bounds memory at the cost of
    letting a key that was quiet that long burst once more.
    """

    __slots__ = ("_buckets", "_burst", "_max_keys", "_rate")

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        TokenBucket(rate, burst, 0.0)  # the same checks of rate and burst
        self._rate = rate
        self._burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float) -> bool:
        """Spend one unit of ``key``'s bucket at instant ``now``, as :meth:`TokenBucket.take`."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)
