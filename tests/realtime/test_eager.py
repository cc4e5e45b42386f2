"""Coroutines run at once in the caller's step, and finished in a task when they wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.eager import Suspended, start_eagerly


async def _two_steps(gate: asyncio.Future[str], log: list[str]) -> str:
    log.append("started")
    value = await gate
    log.append(f"resumed with {value}")
    return value.upper()


async def test_a_suspended_coroutine_finishes_in_a_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[str] = loop.create_future()
    log: list[str] = []
    coro = _two_steps(gate, log)
    waiting_on = coro.send(None)
    assert log == ["started"]

    task = asyncio.create_task(_await(Suspended(coro, waiting_on)))
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_result("ok")
    assert await task == "OK"
    assert log == ["started", "resumed with ok"]


async def test_cancelling_the_task_reaches_the_suspended_coroutine() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[str] = loop.create_future()
    coro = _two_steps(gate, [])
    task = asyncio.create_task(_await(Suspended(coro, coro.send(None))))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.cancelled()  # the inner await was cancelled, not abandoned


async def _no_wait(log: list[str]) -> str:
    log.append("ran")
    return "done"


async def _fails_at_once() -> None:
    raise ValueError("bad")


async def test_a_coroutine_that_never_waits_is_finished_in_the_callers_step() -> None:
    log: list[str] = []
    assert start_eagerly(_no_wait(log)) is None
    assert log == ["ran"]


async def test_a_coroutine_that_waits_is_handed_back_to_finish_in_a_task() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    rest = start_eagerly(_two_steps(gate, log))
    assert rest is not None and log == ["started"]
    task = asyncio.create_task(_await(rest))
    gate.set_result("ok")
    assert await task == "OK"


async def test_an_exception_of_the_first_step_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="bad"):
        start_eagerly(_fails_at_once())


async def _await(awaitable: Any) -> Any:
    return await awaitable
