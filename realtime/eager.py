"""Coroutines started in the caller's step, and finished in a task only if they must wait.

A coroutine whose work rarely waits (a write to a socket with room, a publication on the
in-process broker) costs less run at once than in a task of its own: a task is several
microseconds of bookkeeping, per message on the hot paths. :func:`start_eagerly` runs
the coroutine to its first real wait; only then does it need a task, which awaits the
returned :class:`Suspended` to run the rest.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> Suspended | None:
    """Run ``coro`` in the caller's step until it finishes (return None; its result is
    dropped) or waits (return the :class:`Suspended` rest, for a task to await).

    An exception of that first step propagates to the caller.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return Suspended(coro, waiting_on)


class Suspended:
    """A coroutine that was started outside any task and stopped at its first wait.

    ``Suspended(coro, waiting_on)`` takes what ``coro.send(None)`` returned; awaiting it
    in a task runs the rest of ``coro`` there, as if the task had started it: the task
    waits on the same futures, and a cancellation reaches ``coro``.
    """

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                value = yield waiting_on
            except BaseException as exc:  # a cancellation (or timeout) of the task
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting_on = coro.send(value)
                except StopIteration as stop:
                    return stop.value
