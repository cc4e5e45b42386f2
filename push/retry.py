"""When to try a push again: a pure policy over attempt numbers and send results.

:meth:`RetryPolicy.decide` maps the outcome of attempt ``attempt`` (1 for the first)
to a :data:`Decision`:

* delivered: :class:`Done`;
* unregistered token: :class:`DropToken` (the node forgets the device);
* invalid message, bad credentials (401/403): :class:`GiveUp` at once, since sending
  again cannot help;
* throttled (429): :class:`Retry` after the service's ``Retry-After``, capped at
  ``retry_after_cap`` so a hostile or confused header cannot park a job for a day;
  without the header, as for an outage;
* unavailable (5xx, network error, timeout): :class:`Retry` after an exponential
  backoff with jitter, capped at ``max_delay``;
* any retryable outcome of the ``max_attempts``-th attempt: :class:`GiveUp`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from push.sender import (
    AuthFailed,
    Delivered,
    Rejected,
    SendResult,
    Throttled,
    Unavailable,
    Unregistered,
)


@dataclass(frozen=True, slots=True)
class Done:
    pass


@dataclass(frozen=True, slots=True)
class Retry:
    delay: float
    """Seconds from now."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str
    configuration_error: bool = False
    """The cause is our setup (credentials, project), not this message: log it loudly."""


@dataclass(frozen=True, slots=True)
class DropToken:
    """The device token is dead: remove the device and the job."""


Decision = Done | Retry | GiveUp | DropToken


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    """Seconds before the second attempt after an outage (before jitter)."""
    max_delay: float = 300.0
    retry_after_cap: float = 60.0

    def backoff(self, attempt: int, jitter: Callable[[], float]) -> float:
        """Seconds to wait after failed attempt ``attempt``: "equal jitter", half of the
        exponential delay fixed and half random, so retries spread out but never bunch
        up at zero. ``jitter`` returns a number in [0, 1)."""
        exponential = min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0))
        return float(exponential / 2 + exponential / 2 * jitter())

    def decide(self, attempt: int, result: SendResult, jitter: Callable[[], float]) -> Decision:
        """What to do after attempt ``attempt`` (1-based) came to ``result``."""
        match result:
            case Delivered():
                return Done()
            case Unregistered():
                return DropToken()
            case Rejected(reason=reason):
                return GiveUp(f"rejected: {reason}")
            case AuthFailed(status=status, reason=reason):
                return GiveUp(f"authentication failed ({status}): {reason}", True)
            case Throttled(retry_after=retry_after) | Unavailable(retry_after=retry_after):
                if attempt >= self.max_attempts:
                    return GiveUp(f"still failing after {attempt} attempts: {result}")
                if retry_after is not None and retry_after > 0:
                    return Retry(min(retry_after, self.retry_after_cap))
                return Retry(self.backoff(attempt, jitter))
        raise TypeError(f"not a send result: {result!r}")  # pragma: no cover
