"""The `Directory` interface: the nodes of a cluster and the sessions they hold.

Every node publishes a :class:`NodeRecord` about itself (its heartbeat) every few seconds
and records each session it opens and closes. Any node can then answer "which nodes are
alive?" and "where is this user connected?" for the whole cluster.

Contract (every implementation):

* :meth:`Directory.nodes` lists each node whose last heartbeat is younger than ``ttl``
  seconds, with the record it published last; a node that stops (``leave``) or stops
  publishing (a crash) drops out within ``ttl``.
* :meth:`Directory.sessions` lists the open sessions of a user on the live nodes only: a
  crashed node's sessions vanish with it.
* Nothing here is durable, and a failure of the shared store raises
  :class:`DirectoryUnavailable`; callers on a session's path log it and go on (the admin
  view may lag, a session never fails because of it).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import msgspec


class DirectoryUnavailable(Exception):
    """The shared store behind the directory cannot be reached."""


class Rates(msgspec.Struct, frozen=True):
    """Per-second rates over the last heartbeat interval."""

    received: float = 0.0
    """Client frames read."""
    sent: float = 0.0
    """Frames delivered to sessions."""
    errors: float = 0.0
    """Error frames sent to clients."""


class NodeRecord(msgspec.Struct, frozen=True):
    """What a node says about itself in each heartbeat (times in epoch milliseconds)."""

    node: str
    version: str
    started: int
    heartbeat: int
    sessions: int
    users: int
    rates: Rates = Rates()
    draining: bool = False


class SessionRecord(msgspec.Struct, frozen=True):
    """One open session: its id, the node holding it, since when (epoch ms)."""

    session: str
    node: str
    connected: int


class Directory(abc.ABC):
    """The cluster's nodes and sessions; one instance per node."""

    async def start(self) -> None:  # noqa: B027 - only shared implementations connect
        """Connect (shared implementations)."""

    async def close(self) -> None:  # noqa: B027
        """Release connections. Idempotent."""

    @abc.abstractmethod
    async def publish(self, record: NodeRecord) -> None:
        """Publish this node's heartbeat, replacing its previous one."""

    @abc.abstractmethod
    async def leave(self, node: str) -> None:
        """Remove ``node`` (stopping cleanly) at once, rather than after ``ttl``."""

    @abc.abstractmethod
    async def nodes(self, now: int) -> list[NodeRecord]:
        """The live nodes at ``now`` (epoch ms), ordered by node id."""

    @abc.abstractmethod
    async def update(self, opened: Sequence[tuple[str, SessionRecord]],
                     closed: Sequence[tuple[str, str]]) -> None:
        """Record sessions opened (user, record), then forget those closed (user, session
        id; unknown ones are ignored), in one go."""

    @abc.abstractmethod
    async def sessions(self, user: str, now: int) -> list[SessionRecord]:
        """The open sessions of ``user`` on live nodes at ``now``, oldest first."""


def alive(record: NodeRecord, now: int, ttl: float) -> bool:
    """Whether a node whose last heartbeat is ``record`` still counts at ``now``."""
    return now - record.heartbeat <= ttl * 1000
