"""The `Presence` interface: who is online, across every node of a cluster.

A user is online while at least one of their sessions is open on any node. Sessions
are identified by an id unique across the cluster. The node calls :meth:`Presence.join`
when a session opens and :meth:`Presence.leave` when it closes; the transitions they
report (came online, went offline) are what subscribers are told.

Contract (every implementation, checked by ``tests/contracts/test_presence_contract.py``):

* ``join`` returns True exactly when the user had no session before; ``leave`` returns
  True exactly when it removed the user's last session. Joining twice or leaving an
  unknown session changes nothing and returns False.
* :meth:`Presence.online` reflects every join and leave that has returned.
* Presence is never persisted by this interface (``last_seen`` is the store's).
* A shared implementation (Redis) forgets the sessions of a node that stops refreshing
  them within its TTL, so a crashed node's users go offline by themselves.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable


class PresenceUnavailable(Exception):
    """The shared presence store cannot be reached: the caller may retry."""


class Presence(abc.ABC):
    """Online state of users; one instance per node."""

    on_expired: Callable[[str, int], Awaitable[None]] | None = None
    """Set by the node: awaited with (user, epoch ms) when a shared implementation finds
    that a user's last session expired because its node stopped renewing it."""

    async def start(self) -> None:  # noqa: B027 - only shared implementations connect
        """Connect and start refreshing (shared implementations)."""

    async def close(self) -> None:  # noqa: B027
        """Stop refreshing and release connections. Idempotent."""

    @abc.abstractmethod
    async def join(self, user: str, session: str) -> bool:
        """Record an open session; True when the user just came online. Raise
        :class:`PresenceUnavailable` when the shared store cannot be reached (so do
        :meth:`leave` and :meth:`online`)."""

    @abc.abstractmethod
    async def leave(self, user: str, session: str) -> bool:
        """Forget a closed session; True when the user just went offline."""

    @abc.abstractmethod
    async def online(self, users: Iterable[str]) -> set[str]:
        """Those of ``users`` that have at least one open session."""
