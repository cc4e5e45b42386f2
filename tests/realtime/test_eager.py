"""The send queue writes at once when it can, and hands a write that must wait to its
writer task without reordering frames."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.send_queue import Suspended


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


async def _await(awaitable: Any) -> Any:
    return await awaitable
