"""`TypingTracker`: throttling and expiry of typing indicators. Pure: the clock is passed in.

Typing is ephemeral: nothing here is stored, and nothing is replayed. The tracker only
decides which changes are worth relaying:

* a user's repeated ``on`` for one thread within ``throttle`` seconds is dropped;
* an ``on`` not refreshed for ``expiry`` seconds ends by itself (:meth:`expire`);
* ``off``, and sending a message, end it at once; an ``off`` for something that was
  not on is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

Key = tuple[str, str]
"""(user, thread)"""


@dataclass(slots=True)
class _Typing:
    relayed_at: float
    """When the last ``on`` was relayed."""
    refreshed_at: float
    """When the last ``on`` arrived, relayed or not."""


class TypingTracker:
    """Who is typing where, as far as this node relayed it."""

    def __init__(self, *, throttle: float = 3.0, expiry: float = 6.0) -> None:
        self.throttle = throttle
        self.expiry = expiry
        self._typing: dict[Key, _Typing] = {}

    def on(self, user: str, thread: str, now: float) -> bool:
        """``user`` types in ``thread``; True when the change should be relayed."""
        state = self._typing.get((user, thread))
        if state is None:
            self._typing[(user, thread)] = _Typing(relayed_at=now, refreshed_at=now)
            return True
        state.refreshed_at = now
        if now - state.relayed_at >= self.throttle:
            state.relayed_at = now
            return True
        return False

    def off(self, user: str, thread: str) -> bool:
        """``user`` stopped typing (said so, or sent a message); True when it was on."""
        return self._typing.pop((user, thread), None) is not None

    def expire(self, now: float) -> list[Key]:
        """End and return every ``on`` not refreshed within ``expiry`` seconds."""
        expired = [k for k, s in self._typing.items() if now - s.refreshed_at >= self.expiry]
        for key in expired:
            del self._typing[key]
        return expired

    def __len__(self) -> int:
        return len(self._typing)
