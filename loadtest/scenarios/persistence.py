"""``python -m loadtest persistence``: sustained appends into PostgreSQL, in-process.

Unlike the other scenarios this one measures the store, not the wire: it opens a
:class:`~realtime.store.postgres.PostgresStore` in this process and has ``--tasks``
coroutines append 64-byte messages (each with its own ``cid``, as clients send them) to
``--threads`` DM threads, through the store's group commit.

* Without ``--rate`` each task appends in a loop (closed loop): the figure is the
  highest sustained rate, messages committed per second.
* With ``--rate R`` the tasks share an open-loop schedule of R appends/s: the figure is
  this process's CPU per append at that rate (``time.process_time``; asyncpg and the
  event loop run on this one thread), which is the node's cost of persisting a message.

Both report the commit latency (submit -> durable), the batch sizes group commit formed,
and CPU per append, counted over ``--duration`` seconds after ``--warmup``.
Pin it apart from PostgreSQL: ``taskset -c 1 python -m loadtest persistence ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from loadtest.help_text import prog
from realtime.store.base import NewMessage, StoreUnavailable
from realtime.store.migrate import migrate
from realtime.store.postgres import PostgresStore

__all__ = ["PersistenceOptions", "main", "run"]


@dataclass(frozen=True, kw_only=True)
class PersistenceOptions:
    """One run: where, how many threads and appending tasks, for how long, how fast."""

    database_url: str
    threads: int = 1000
    tasks: int = 2000
    duration: float = 20.0
    warmup: float = 2.0
    rate: float | None = None
    """Offered appends/s over all tasks; None: every task appends as fast as it can."""
    body_size: int = 64
    batch_max: int = 1000
    batch_window: float = 0.002
    pool_max: int = 10

    def check(self) -> None:
        """Raise :class:`ValueError` naming the first setting that cannot work."""
        if self.threads < 1 or self.tasks < 1:
            raise ValueError("--threads and --tasks must be at least 1")
        if self.duration <= 0 or self.warmup < 0:
            raise ValueError("--duration must be positive and --warmup not negative")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("--rate must be positive")


@dataclass
class _Window:
    """What happened between the end of the warm-up and the end of the run."""

    open: bool = False
    appended: int = 0
    failed: int = 0
    late: int = 0
    latencies_us: list[float] = field(default_factory=list)


async def _make_threads(store: PostgresStore, count: int) -> list[tuple[str, str, str]]:
    """``count`` DM threads as (thread, one member, the other); created once, reused."""
    gate = asyncio.Semaphore(32)

    async def one(index: int) -> tuple[str, str, str]:
        a, b = f"persist{index}a", f"persist{index}b"
        async with gate:
            thread = await store.ensure_dm(a, b)
        return thread.id, a, b

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _appender(
    store: PostgresStore,
    options: PersistenceOptions,
    index: int,
    threads: list[tuple[str, str, str]],
    window: _Window,
    start: float,
    stop: float,
    run_id: str,
) -> None:
    thread, a, b = threads[index % len(threads)]
    sender = a if (index // len(threads)) % 2 == 0 else b
    body = "x" * options.body_size
    interval = options.tasks / options.rate if options.rate else 0.0
    due = start + interval * index / options.tasks
    count = 0
    loop = asyncio.get_running_loop()
    scheduled = start
    while True:
        if interval:
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > interval:
                window.late += window.open
            scheduled = due
            due += interval
        if loop.time() >= stop:
            return
        count += 1
        began = loop.time()
        new = NewMessage(thread, sender, body, None, f"{run_id}-{index}-{count}", int(began))
        try:
            await store.append(new)
        except StoreUnavailable:
            window.failed += window.open
            continue
        if window.open:
            window.appended += 1
            # Open loop: latency from the scheduled time, so a stalled store shows.
            since = scheduled if interval else began
            window.latencies_us.append((loop.time() - since) * 1e6)


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": ordered[-1] / 1000}


def _batch_summary(batches: Counter[int]) -> dict[str, Any]:
    total = sum(batches.values())
    if not total:
        return {"batches": 0}
    sizes = sorted(batches.elements())
    return {
        "batches": total,
        "mean": sum(sizes) / total,
        "median": statistics.median(sizes),
        "p90": sizes[min(total - 1, int(0.9 * total))],
        "max": sizes[-1],
    }


async def run(options: PersistenceOptions) -> dict[str, Any]:
    """Run once against ``options.database_url`` (migrated first); return the report."""
    options.check()
    await migrate(options.database_url)
    store = PostgresStore(
        options.database_url,
        pool_max=options.pool_max,
        batch_max=options.batch_max,
        batch_window=options.batch_window,
    )
    await store.open()
    try:
        threads = await _make_threads(store, options.threads)
        loop = asyncio.get_running_loop()
        window = _Window()
        start = loop.time()
        stop = start + options.warmup + options.duration
        run_id = secrets.token_hex(4)
        tasks = [
            asyncio.create_task(
                _appender(store, options, i, threads, window, start, stop, run_id)
            )
            for i in range(options.tasks)
        ]
        try:
            await asyncio.sleep(options.warmup)  # the warm-up is a span of time by definition
            window.open = True
            batches_before = Counter(store.batch_sizes)
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            await asyncio.sleep(options.duration)  # likewise the measured span
            window.open = False
            cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
            batches = Counter(store.batch_sizes)
            batches.subtract(batches_before)
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await store.close()
    latencies = window.latencies_us
    return {
        "scenario": "persistence",
        "options": {k: v for k, v in asdict(options).items() if k != "database_url"},
        "summary": {
            "appended": window.appended,
            "appends_per_s": window.appended / wall,
            "failed": window.failed,
            "late": window.late,
            "cpu_share": cpu / wall,
            "cpu_us_per_append": cpu / window.appended * 1e6 if window.appended else None,
            "latency": _quantiles(latencies),
            "batch_size": _batch_summary(+batches),
        },
    }


def _print(report: dict[str, Any]) -> None:
    from loadtest.report import wide_console

    summary = report["summary"]
    o = report["options"]
    offered = f"{o['rate']:g}/s offered" if o["rate"] else "closed loop"
    console = wide_console()
    console.print(
        f"persistence: {o['threads']} threads, {o['tasks']} tasks, {offered}, {o['duration']:g} s"
    )
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(
                f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in value.items()
            )
        elif isinstance(value, float):
            value = f"{value:,.3f}"
        console.print(f"  {key}: {value}")


def main(argv: list[str]) -> int:
    """The ``python -m loadtest persistence`` command."""
    parser = argparse.ArgumentParser(
        prog=prog("persistence"),
        description="Append messages into PostgreSQL through the store's group commit, "
        "in this process, and report appends/s, commit latency, batch sizes and CPU "
        "per append.",
    )
    parser.add_argument("--database-url", required=True, help="postgresql://... (migrated)")
    parser.add_argument("--threads", type=int, default=1000, help="DM threads written to")
    parser.add_argument("--tasks", type=int, default=2000, help="concurrent appending tasks")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--rate", type=float, default=None, help="offered appends/s (default: closed loop)"
    )
    parser.add_argument("--body-size", type=int, default=64)
    parser.add_argument("--batch-max", type=int, default=1000)
    parser.add_argument("--batch-window", type=float, default=0.002, help="seconds")
    parser.add_argument("--pool-max", type=int, default=10)
    parser.add_argument("--json", dest="json_path", help="write the report here")
    args = parser.parse_args(argv)
    options = PersistenceOptions(
        database_url=args.database_url,
        threads=args.threads,
        tasks=args.tasks,
        duration=args.duration,
        warmup=args.warmup,
        rate=args.rate,
        body_size=args.body_size,
        batch_max=args.batch_max,
        batch_window=args.batch_window,
        pool_max=args.pool_max,
    )
    try:
        options.check()
    except ValueError as exc:
        parser.error(str(exc))
    import uvloop

    report = uvloop.run(run(options))
    _print(report)
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(report, out, indent=2)
    return 0
