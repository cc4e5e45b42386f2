"""GroupCommit's batching: what shares a commit, and when a batch is taken."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from realtime.store.group_commit import GroupCommit


class Recorder:
    """A commit function that records each batch and the loop's time it was taken at.

    The first batch waits for :attr:`release`, so a test can queue items while a commit
    is in progress.
    """

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[str]]] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append((asyncio.get_running_loop().time(), list(items)))
        self.started.set()
        if len(self.batches) == 1:
            await self.release.wait()
        return [item.upper() for item in items]


async def test_items_queued_together_share_one_commit() -> None:
    commit = Recorder()
    commit.release.set()
    writer = GroupCommit("test", commit, batch_max=3, batch_window=60.0)
    writer.start()
    try:
        results = await asyncio.gather(*(writer.submit(x) for x in "abc"))
    finally:
        await writer.close()
    assert results == ["A", "B", "C"]
    assert [items for _, items in commit.batches] == [["a", "b", "c"]]


async def test_an_item_queued_during_a_commit_waits_the_window_for_company() -> None:
    # A busy writer is paced too: without the window, each commit would carry only what
    # arrived during the previous one, and a batch's fixed cost would be paid per item.
    window = 0.05
    commit = Recorder()
    writer = GroupCommit("test", commit, batch_max=100, batch_window=window)
    writer.start()
    try:
        first = asyncio.ensure_future(writer.submit("a"))
        await commit.started.wait()
        queued_at = asyncio.get_running_loop().time()
        second = asyncio.ensure_future(writer.submit("b"))
        commit.release.set()
        assert await asyncio.gather(first, second) == ["A", "B"]
    finally:
        await writer.close()
    (_, a), (taken_at, b) = commit.batches
    assert (a, b) == (["a"], ["b"])
    assert taken_at >= queued_at + window


async def hour_window_writer(batch_max: int, *, busy: bool) -> GroupCommit[str, str]:
    """A started writer whose window is an hour: any wait for it outlasts a test.
    ``busy``: it has just committed a batch, so the next item would wait the window."""
    commit = Recorder()
    commit.release.set()
    writer = GroupCommit("test", commit, batch_max=batch_max, batch_window=3600.0)
    writer.start()
    if busy:
        assert await writer.submit("x") == "X"
    return writer


async def test_an_item_after_a_quiet_spell_is_committed_at_once() -> None:
    # No batch for a whole window: nothing suggests company is coming, so it does not wait.
    writer = await hour_window_writer(100, busy=False)
    try:
        async with asyncio.timeout(30):
            assert await writer.submit("a") == "A"
    finally:
        await writer.close()


async def test_a_full_batch_does_not_wait_for_the_window() -> None:
    writer = await hour_window_writer(2, busy=True)
    try:
        # Only a full batch can be committed before the timeout.
        async with asyncio.timeout(30):
            assert await asyncio.gather(writer.submit("a"), writer.submit("b")) == ["A", "B"]
    finally:
        await writer.close()


async def test_close_commits_what_is_queued_without_waiting_for_the_window() -> None:
    writer = await hour_window_writer(100, busy=True)
    pending = asyncio.ensure_future(writer.submit("a"))
    await asyncio.sleep(0)  # let the submission reach the queue
    async with asyncio.timeout(30):
        await writer.close()
        assert await pending == "A"
