"""`Cursor`: where a client stands in the stream of all its threads' messages.

A cursor is opaque to clients. It names a *base* position — every message of the
user's threads at or below it was delivered — and, when messages from several nodes
arrive out of order, a *mark* per thread recently active above the base: every message
of that thread up to the mark's ``seq`` was delivered too. On the wire::

    "1234"                      base 1234
    "1234~<base64url>"          base 1234, and marks: MessagePack [[thread, seq, pos], ...]

A thread's messages reach a device in ``seq`` order with no hole (the feed sees to it),
so one mark per thread says exactly what the device has, however many messages it got.
Replaying after a cursor means: every message above the base that no mark covers.
Positions are those of the store (see ``realtime.store.base``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Final

import msgspec

from protocol.errors import ErrorCode, ProtocolError

INT64_MAX: Final = 2**63 - 1
MAX_MARKS: Final = 32
"""Threads a cursor marks at most; past it the mark furthest behind is dropped (its
messages above the base would be replayed again: a duplicate, never a loss)."""

SEALED_PREFIX: Final = "c."
"""How a sealed cursor (what clients are given: see ``realtime.cursor_seal``) begins."""
_SEALED: Final = re.compile(r"c\.[A-Za-z0-9_-]{22,11000}")
_BASE: Final = re.compile(r"[0-9]{1,19}")
_PAYLOAD: Final = re.compile(r"[A-Za-z0-9_-]{1,8192}")
_THREAD: Final = re.compile(r"[\x21-\x7e]{1,128}")  # the thread id rule of protocol.validation
_MARKS = msgspec.msgpack.Decoder(list[tuple[str, int, int]])
_ENCODE = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class Mark:
    """Every message of ``thread`` up to ``seq`` was delivered; the last one is at ``pos``."""

    thread: str
    seq: int
    pos: int


@dataclass(frozen=True, slots=True)
class Cursor:
    """A base position and the marks of threads delivered above it."""

    base: int
    marks: tuple[Mark, ...] = ()
    _by_thread: dict[str, Mark] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_thread.update((m.thread, m) for m in self.marks)

    def covers(self, thread: str, seq: int, pos: int) -> bool:
        """Whether the message (``thread``, ``seq``) at ``pos`` was delivered to whoever
        holds this cursor."""
        if pos <= self.base:
            return True
        mark = self._by_thread.get(thread)
        return mark is not None and seq <= mark.seq

    def clamped(self, head: int) -> Cursor:
        """This cursor, or as much of it as lies at or below ``head`` ("now"): a cursor
        from beyond now (made up, or from a store since restored) is not kept, or the
        client would skip every message up to it."""
        if self.base > head:
            return Cursor(head)
        if all(m.pos <= head for m in self.marks):
            return self
        return Cursor(self.base, tuple(m for m in self.marks if m.pos <= head))

    @property
    def high(self) -> int:
        """The largest position this cursor names."""
        return max((self.base, *(m.pos for m in self.marks)))

    def __str__(self) -> str:
        if not self.marks:
            return str(self.base)
        payload = _ENCODE.encode([(m.thread, m.seq, m.pos) for m in self.marks])
        return f"{self.base}~{base64.urlsafe_b64encode(payload).rstrip(b'=').decode()}"


def parse_cursor(text: str, request_id: int | str | None = None) -> Cursor:
    """Parse a cursor; raise :class:`ProtocolError` ``bad_request`` unless well formed."""
    if not isinstance(text, str):
        raise _malformed(request_id)
    base_text, sep, payload = text.partition("~")
    if _BASE.fullmatch(base_text) is None or (sep and _PAYLOAD.fullmatch(payload) is None):
        raise _malformed(request_id)
    base = int(base_text)
    if base > INT64_MAX:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "cursor is out of range", request_id)
    if not sep:
        return Cursor(base)
    try:
        raw = _MARKS.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise _malformed(request_id) from None
    marks = tuple(Mark(*entry) for entry in raw)
    if not 0 < len(marks) <= MAX_MARKS or len({m.thread for m in marks}) != len(marks):
        raise _malformed(request_id)
    for mark in marks:
        if (_THREAD.fullmatch(mark.thread) is None or not 0 < mark.seq <= INT64_MAX
                or not base < mark.pos <= INT64_MAX):
            raise _malformed(request_id)
    return Cursor(base, marks)


def is_sealed(text: object) -> bool:
    """Whether ``text`` has the form of a sealed cursor (only the node can open it)."""
    return isinstance(text, str) and _SEALED.fullmatch(text) is not None


def check_cursor(text: object, request_id: int | str | None = None) -> None:
    """Raise :class:`ProtocolError` ``bad_request`` unless ``text`` is a cursor in form:
    sealed, or plain and well formed."""
    if not is_sealed(text):
        parse_cursor(text, request_id)  # type: ignore[arg-type]


def format_cursor(pos: int) -> str:
    """The cursor string of a plain position (0 <= pos < 2**63)."""
    if not 0 <= pos <= INT64_MAX:
        raise ValueError(f"cursor position out of range: {pos}")
    return str(pos)


def _malformed(request_id: int | str | None) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, "malformed cursor", request_id)


class CursorTracker:
    """One session's cursor, moved by each message it delivers.

    ``ordered`` (one node, in-process broker): messages arrive in position order, so
    the base simply follows them. Otherwise the base only moves up to ``settled`` — a
    position below which every publication has surely arrived — and the threads
    delivered above it are marked until the base passes their last message.
    """

    __slots__ = ("_base", "_marks", "_text", "ordered")

    def __init__(self, base: int, *, ordered: bool) -> None:
        self._base = base
        self._marks: dict[str, Mark] = {}
        self._text: str | None = None
        self.ordered = ordered

    def delivered(self, thread: str, seq: int, pos: int, settled: int = 0) -> None:
        """Record the delivery of message ``seq`` of ``thread``, at ``pos``. The caller
        delivers each thread's messages in ``seq`` order with no hole."""
        if self.ordered:
            if pos > self._base:
                self._base, self._text = pos, None
            return
        if pos > self._base:
            mark = self._marks.get(thread)
            if mark is None or seq > mark.seq:
                self._marks[thread] = Mark(thread, seq, max(pos, mark.pos if mark else 0))
                self._text = None
        self.advance(settled)

    def advance(self, settled: int) -> None:
        """Move the base up to ``settled`` (never down), dropping marks it now covers."""
        if settled > self._base:
            self._base, self._text = settled, None
            self._marks = {t: m for t, m in self._marks.items() if m.pos > settled}
        while len(self._marks) > MAX_MARKS:
            behind = min(self._marks.values(), key=lambda m: m.pos)
            del self._marks[behind.thread]
            self._text = None

    def reset(self, cursor: Cursor) -> None:
        self._base = cursor.base
        self._marks = {m.thread: m for m in cursor.marks}
        self._text = None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self._base, tuple(self._marks.values()))

    @property
    def text(self) -> str:
        """The cursor's wire form, made once per change: every message frame carries it."""
        if self._text is None:
            self._text = str(self._base) if not self._marks else str(self.cursor)
        return self._text
