"""Replies that must fit the connection's byte limit.

No frame may be larger than what a connection may have queued (``max_queue``): a reply
of many entries (``threads``, ``history``) that would be is cut to the most entries
that fit, and says ``more``, so the client asks for the rest. A reply that cannot fit
even one entry is refused with ``too_large``.
"""

from __future__ import annotations

from collections.abc import Callable

from protocol.errors import ErrorCode
from realtime.errors import RequestError


def fitted(encode: Callable[[int], bytes], count: int, max_bytes: int) -> tuple[bytes, int]:
    """The encoding of the first ``n`` entries, for the largest ``n <= count`` whose
    encoding fits in ``max_bytes`` (found by halving, then growing back), and ``n``.

    ``encode(n)`` encodes the reply with ``n`` entries. Raises ``too_large`` when even
    a reply of one entry does not fit (a reply of none always does, when ``count`` is 0).
    """
    data = encode(count)
    if len(data) <= max_bytes:
        return data, count
    low, high = 0, count  # low fits (or is 0), high does not
    best = b""
    while high - low > 1:
        middle = (low + high) // 2
        attempt = encode(middle)
        if len(attempt) <= max_bytes:
            low, best = middle, attempt
        else:
            high = middle
    if low == 0:
        raise RequestError(ErrorCode.TOO_LARGE,
                           "the reply would pass the connection's byte limit")
    return best, low
