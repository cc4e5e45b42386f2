"""`PresenceTable`: the pure data structure behind in-memory presence."""

from __future__ import annotations

from collections.abc import Iterable


class PresenceTable:
    """Open sessions by user. No clock, no I/O: each call reports the transition it made."""

    __slots__ = ("_sessions",)

    def __init__(self) -> None:
        # Lists, not sets: a user has one or two sessions, and a list is far smaller.
        self._sessions: dict[str, list[str]] = {}

    def join(self, user: str, session: str) -> bool:
        """Add ``session``; True when ``user`` had none before."""
        sessions = self._sessions.get(user)
        if sessions is None:
            self._sessions[user] = [session]
            return True
        if session not in sessions:
            sessions.append(session)
        return False

    def leave(self, user: str, session: str) -> bool:
        """Remove ``session``; True when it was ``user``'s last one."""
        sessions = self._sessions.get(user)
        if sessions is None or session not in sessions:
            return False
        sessions.remove(session)
        if sessions:
            return False
        del self._sessions[user]
        return True

    def online(self, users: Iterable[str]) -> set[str]:
        return {u for u in users if u in self._sessions}

    def sessions(self, user: str) -> frozenset[str]:
        return frozenset(self._sessions.get(user, ()))

    def __len__(self) -> int:
        """Users online."""
        return len(self._sessions)
