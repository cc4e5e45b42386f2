"""Worker processes: each runs its share of a scenario on its own event loop (uvloop).

The parent and a worker talk over a :class:`Channel` in a few messages::

    worker -> parent   ("ready", counters)  connected, waiting for the start
    parent -> worker   ("go", t0_ns)         start the load at t0 (time.monotonic_ns(),
                                             one clock for every process of the machine)
    worker -> parent   ("progress", counters)  twice a second during the load
    worker -> parent   ("result", measurements, cpu_seconds)  after the drain
    parent -> worker   ("close",)            close the connections and exit
    worker -> parent   ("failed", traceback)  at any point

Connections are closed only on "close", so the parent can read the server's memory
while every connection is still open. With one worker, it runs in the parent's own
event loop (same messages, no process).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from loadtest.links import Dialer, make_dialer
from loadtest.options import Options
from loadtest.scenarios import scenario_module
from loadtest.scenarios.base import WorkerContext, sleep_until
from loadtest.socketio_links import SocketIODialer
from loadtest.tokens import TokenSource

__all__ = ["Channel", "WorkerHandle", "start_workers"]

_PROGRESS_EVERY = 0.5


class Channel:
    """One end of a parent-worker conversation."""

    def __init__(self, conn: Connection | None = None,
                 inbox: asyncio.Queue[Any] | None = None,
                 outbox: asyncio.Queue[Any] | None = None) -> None:
        self._conn = conn
        self._inbox: asyncio.Queue[Any] = inbox if inbox is not None else asyncio.Queue()
        self._outbox = outbox
        if conn is not None:
            asyncio.get_running_loop().add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._conn is not None
        # uvloop makes a watched descriptor non-blocking, and Connection.recv() then
        # fails with BlockingIOError on a message that has only partly arrived (a large
        # result): the worker looked dead. Once a message starts, read all of it.
        os.set_blocking(self._conn.fileno(), True)
        try:
            while self._conn.poll():
                self._inbox.put_nowait(self._conn.recv())
        except (EOFError, OSError):
            self._inbox.put_nowait(("failed", "worker process ended"))
            asyncio.get_running_loop().remove_reader(self._conn.fileno())

    def send(self, message: tuple[Any, ...]) -> None:
        if self._conn is not None:
            self._conn.send(message)
        else:
            assert self._outbox is not None
            self._outbox.put_nowait(message)

    async def recv(self) -> tuple[Any, ...]:
        message: tuple[Any, ...] = await self._inbox.get()
        return message

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._conn.close()


async def serve_worker(channel: Channel, options: Options, plan: dict[str, Any],
                       index: int, count: int) -> None:
    """Run one worker's share of the scenario, talking to the parent over ``channel``."""
    module = scenario_module(options.scenario)
    tokens = None
    if options.target == "node":
        tokens = TokenSource(secret=options.secret, command=options.token_cmd)
    dialer: Dialer = make_dialer(options.client)
    if options.target == "socketio":
        dialer = SocketIODialer(dialer)
    async with dialer:
        ctx = WorkerContext(options, plan, index, count, dialer, tokens)
        scenario = module.Worker(ctx)
        try:
            await scenario.setup()
            channel.send(("ready", dict(scenario.m.counters)))
            message = await channel.recv()
            if message[0] != "go":
                return
            cpu = time.process_time()
            progress = asyncio.create_task(_report_progress(channel, scenario))
            try:
                await scenario.run(message[1])
                # A worker that offers no load (fan-out receivers) returns at once: its
                # drain starts when the load ends, as everyone else's.
                await sleep_until(message[1] + int(options.duration * 1e9))
                await scenario.drain()
            finally:
                progress.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress
            measurements = scenario.finish()
            channel.send(("result", measurements.to_wire(), time.process_time() - cpu))
            await channel.recv()  # "close"
        except Exception:
            channel.send(("failed", traceback.format_exc()))
        finally:
            await scenario.close()


async def _report_progress(channel: Channel, scenario: Any) -> None:
    while True:
        await asyncio.sleep(_PROGRESS_EVERY)
        channel.send(("progress", dict(scenario.m.counters)))


def _process_main(conn: Connection, options: Options, plan: dict[str, Any],
                  index: int, count: int) -> None:
    import uvloop

    async def main() -> None:
        channel = Channel(conn)
        try:
            await serve_worker(channel, options, plan, index, count)
        finally:
            channel.close()

    uvloop.run(main())


class WorkerHandle:
    """The parent's side of one worker: its channel, its process (if any), its task."""

    def __init__(self, channel: Channel, process: Any = None,
                 task: asyncio.Task[None] | None = None) -> None:
        self.channel = channel
        self.process = process
        self.task = task
        self.counters: dict[str, int] = {}

    async def join(self) -> None:
        """Wait until the worker has ended (and closed its connections)."""
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        if self.process is not None:
            await asyncio.to_thread(self.process.join, 60)
            if self.process.is_alive():
                self.process.kill()
                await asyncio.to_thread(self.process.join)
        self.channel.close()


def start_workers(options: Options, plan: dict[str, Any]) -> list[WorkerHandle]:
    """Start ``options.workers`` workers: in this event loop if one, else processes."""
    if options.workers == 1:
        to_worker: asyncio.Queue[Any] = asyncio.Queue()
        to_parent: asyncio.Queue[Any] = asyncio.Queue()
        worker_end = Channel(inbox=to_worker, outbox=to_parent)
        task = asyncio.create_task(serve_worker(worker_end, options, plan, 0, 1))
        return [WorkerHandle(Channel(inbox=to_parent, outbox=to_worker), task=task)]
    context = multiprocessing.get_context("spawn")
    handles = []
    for index in range(options.workers):
        parent_conn, worker_conn = context.Pipe(duplex=True)
        process = context.Process(
            target=_process_main,
            args=(worker_conn, options, plan, index, options.workers),
            name=f"loadtest-worker-{index}",
            daemon=True,
        )
        process.start()
        worker_conn.close()
        handles.append(WorkerHandle(Channel(parent_conn), process=process))
    return handles
