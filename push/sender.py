"""The `Sender` interface and what a send can come to.

A :class:`Sender` makes one attempt to hand one :class:`~push.messages.PushMessage` to
the push service and says how it went as a :data:`SendResult`. It never retries and
never raises for an outcome of the attempt; retrying is the worker's business, decided
by :mod:`push.retry`. Results, by who is to blame:

* :class:`Delivered`: the service accepted the message.
* :class:`Unregistered`: the token is gone (app uninstalled, token rotated): forget it.
* :class:`Rejected`: the message itself is invalid; sending it again cannot help.
* :class:`AuthFailed`: our credentials or project are wrong: a configuration error.
* :class:`Throttled`: the service asks us to slow down, maybe saying for how long.
* :class:`Unavailable`: the service or the network failed; a later attempt may succeed.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from push.messages import PushMessage


@dataclass(frozen=True, slots=True)
class Delivered:
    name: str = ""
    """The service's id of the accepted message."""


@dataclass(frozen=True, slots=True)
class Unregistered:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuthFailed:
    status: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Throttled:
    retry_after: float | None = None
    """Seconds the service asked us to wait (``Retry-After``), when it said."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unavailable:
    status: int | None = None
    """The HTTP status, or None for a network error or timeout."""
    retry_after: float | None = None
    reason: str = ""


SendResult = Delivered | Unregistered | Rejected | AuthFailed | Throttled | Unavailable


class Sender(abc.ABC):
    """Sends pushes to devices. One instance per node; safe for concurrent sends."""

    @abc.abstractmethod
    async def send(self, message: PushMessage) -> SendResult:
        """Make one attempt to send ``message``; return its outcome, never raise for it."""

    async def close(self) -> None:  # noqa: B027 - a sender may hold nothing
        """Wait for sends in progress and release connections. Idempotent."""
