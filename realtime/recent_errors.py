"""The last warnings and errors a node logged, for its status page.

:class:`RecentErrors` is a logging handler that keeps the newest ``size`` records of
level WARNING or above, their text scrubbed of credentials like every log line.
"""

from __future__ import annotations

import logging
from collections import deque

import msgspec

from realtime.logs import Scrubber


class LoggedError(msgspec.Struct, frozen=True):
    """One record: when (epoch ms), its level and logger, and its message."""

    t: int
    level: str
    logger: str
    message: str


class RecentErrors(logging.Handler):
    """Keeps the newest warnings and errors. Attach with :meth:`attach`, remove with
    :meth:`detach` (the node does both)."""

    def __init__(self, scrub: Scrubber, size: int = 50) -> None:
        super().__init__(logging.WARNING)
        self._scrub = scrub
        self._records: deque[LoggedError] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__})"
            self._records.append(LoggedError(
                t=int(record.created * 1000), level=record.levelname, logger=record.name,
                message=self._scrub(message)[:500],
            ))
        except Exception:  # a handler never raises into the code that logs
            self.handleError(record)

    def records(self) -> list[LoggedError]:
        """The records kept, newest first."""
        return list(reversed(self._records))

    def attach(self) -> None:
        logging.getLogger().addHandler(self)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self)
