"""The limits a node enforces on each connection, with the contract's defaults."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits. Sizes are bytes and maxima are inclusive.

    ``max_frame`` bounds one WebSocket frame, ``max_body`` a message body (as UTF-8),
    ``max_meta`` a message's ``meta`` (as encoded JSON). ``rate`` (frames/s) and
    ``burst`` parameterise the per-connection token bucket. ``max_sessions`` counts a
    user's sessions on one node, ``max_queue`` the bytes queued for one connection,
    ``max_topics`` the topics one connection follows, ``max_history`` the largest
    page a ``history`` request gets, ``max_threads`` the largest page of ``threads``.
    ``max_group`` bounds a group's members, ``max_title`` a group's title (characters).
    """

    max_frame: int = 65536
    max_body: int = 16384
    max_meta: int = 4096
    rate: float = 20.0
    burst: int = 100
    max_sessions: int = 10
    max_queue: int = 1048576
    max_topics: int = 100
    max_history: int = 200
    max_threads: int = 200
    max_group: int = 256
    max_title: int = 100

    def as_welcome(self) -> dict[str, int | float]:
        """Return the limits announced in the ``welcome`` frame."""
        return {
            "max_frame": self.max_frame,
            "max_body": self.max_body,
            "max_meta": self.max_meta,
            "rate": self.rate,
            "burst": self.burst,
            "max_sessions": self.max_sessions,
            "max_queue": self.max_queue,
            "max_group": self.max_group,
            "max_title": self.max_title,
        }
