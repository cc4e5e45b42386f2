"""Test-only fault injection: a real crash of the node process at a chosen point.

``REALTIME_TEST_CRASH_AFTER_COMMIT=<body>`` makes the node SIGKILL itself right after the
store committed a new message whose body is exactly ``<body>``: before the message is
published, its push decided, or its ack sent. The fault tests use it to show that what
is committed survives a crash in that window (tests/faults/test_push_crash.py). It is
not a setting: never set it outside a test.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Final

log = logging.getLogger(__name__)

CRASH_AFTER_COMMIT: Final = os.environ.get("REALTIME_TEST_CRASH_AFTER_COMMIT") or None


def committed(body: str) -> None:
    """A new message with ``body`` was committed: crash here if a test asked for it."""
    if CRASH_AFTER_COMMIT is not None and body == CRASH_AFTER_COMMIT:
        log.warning("REALTIME_TEST_CRASH_AFTER_COMMIT: killing this process (a test asked)")
        os.kill(os.getpid(), signal.SIGKILL)
