"""`Cursor`: where a client stands in the stream of all its threads' messages.

A cursor is opaque to clients. It names a *base* position — every message of the
user's threads at or below it was delivered — and, when messages from several nodes
arrived out of order, the few positions above the base that were delivered too::

    "1234"              base 1234
    "1234.1240.1242"    base 1234, and 1240 and 1242 were delivered as well

Replaying after a cursor means: every message with a position above the base, except
the listed ones. Positions are those of the store (see ``realtime.store.base``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from protocol.errors import ErrorCode, ProtocolError

INT64_MAX: Final = 2**63 - 1
MAX_EXTRA: Final = 32
"""Positions above the base a cursor lists at most; older ones are dropped (and would be
replayed again: a duplicate, never a loss)."""

_PATTERN: Final = re.compile(rf"[0-9]{{1,19}}(?:\.[0-9]{{1,19}}){{0,{MAX_EXTRA}}}")


@dataclass(frozen=True, slots=True)
class Cursor:
    """A base position and the delivered positions above it (ascending, all > base)."""

    base: int
    extra: tuple[int, ...] = ()

    def covers(self, pos: int) -> bool:
        """Whether the message at ``pos`` was delivered to whoever holds this cursor."""
        return pos <= self.base or pos in self.extra

    def __str__(self) -> str:
        if not self.extra:
            return str(self.base)
        return ".".join(map(str, (self.base, *self.extra)))


def parse_cursor(text: str, request_id: int | str | None = None) -> Cursor:
    """Parse a cursor; raise :class:`ProtocolError` ``bad_request`` unless well formed."""
    if not isinstance(text, str) or _PATTERN.fullmatch(text) is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "malformed cursor", request_id)
    base, *extra = map(int, text.split("."))
    if base > INT64_MAX or any(p > INT64_MAX for p in extra):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "cursor is out of range", request_id)
    if any(p <= base for p in extra) or extra != sorted(set(extra)):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "malformed cursor", request_id)
    return Cursor(base, tuple(extra))


def format_cursor(pos: int) -> str:
    """The cursor string of a plain position (0 <= pos < 2**63)."""
    if not 0 <= pos <= INT64_MAX:
        raise ValueError(f"cursor position out of range: {pos}")
    return str(pos)


class CursorTracker:
    """One session's cursor, moved by each message it delivers.

    ``ordered`` (one node, in-process broker): messages arrive in position order, so
    the base simply follows them. Otherwise the base only moves up to ``settled`` — a
    position below which every publication has surely arrived — and later deliveries are
    listed as extras until the base passes them.
    """

    __slots__ = ("_base", "_extra", "ordered")

    def __init__(self, base: int, *, ordered: bool) -> None:
        self._base = base
        self._extra: list[int] = []
        self.ordered = ordered

    def delivered(self, pos: int, settled: int = 0) -> None:
        """Record the delivery of the message at ``pos``."""
        if self.ordered:
            self._base = max(self._base, pos)
            return
        if pos > self._base and pos not in self._extra:
            self._extra.append(pos)
            self._extra.sort()
        self.advance(settled)

    def advance(self, settled: int) -> None:
        """Move the base up to ``settled`` (never down), dropping extras it now covers."""
        if settled > self._base:
            self._base = settled
            self._extra = [p for p in self._extra if p > settled]
        if len(self._extra) > MAX_EXTRA:
            del self._extra[: len(self._extra) - MAX_EXTRA]

    def reset(self, cursor: Cursor) -> None:
        self._base = cursor.base
        self._extra = list(cursor.extra)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self._base, tuple(self._extra))
