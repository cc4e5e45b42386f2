"""Which asyncpg failures mean "the database is unavailable", and the mapping to ours.

A lost or refused connection, a server shutting down, a timeout or a full connection
table is :class:`~realtime.store.base.StoreUnavailable`: the caller may retry later,
on this node or another. Anything else (a constraint we did not expect, a bad query)
is a bug and propagates as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from realtime.store.base import StoreUnavailable

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; ConnectionError is a subclass
    TimeoutError,  # connect timeout, command_timeout, pool acquire timeout
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.OperatorInterventionError,  # admin or crash shutdown, cannot connect now
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # "connection is closed", "pool is closed"
)
"""Exceptions that mean the database could not be reached or did not answer."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unavailable (rather than a bug)."""
    # DataError (a value asyncpg cannot encode) is an InterfaceError too, and is a bug.
    return isinstance(exc, UNAVAILABLE) and not isinstance(
        exc, asyncpg.DataError | asyncpg.ClientConfigurationError
    )


@contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Raise :class:`StoreUnavailable` for an unavailability failure inside the block.

    ``what`` names the operation in the message, e.g. ``"history"``.
    """
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise StoreUnavailable(f"postgres {what}: {type(exc).__name__}: {exc}") from exc
        raise
