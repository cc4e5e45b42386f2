"""One run of a scenario, and rate stepping over several runs.

A run: the scenario's ``prepare``; a first read of the server's ``/metrics``; the
workers connect; a second read; the load from a common start time; the drain; a last
read while every connection is still open; the workers close; the merged measurements
become the report. Server CPU is counted between the second and the last read (load
and drain), memory growth between the first and the last.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from loadtest.options import Options
from loadtest.pool import WorkerHandle, start_workers
from loadtest.progress import Progress
from loadtest.recorder import Measurements
from loadtest.scenarios import scenario_module
from loadtest.server_metrics import ServerSample, scrape

__all__ = ["RunFailed", "run", "run_steps"]

_START_DELAY_NS = 300_000_000


class RunFailed(RuntimeError):
    """A worker failed; the message holds its traceback."""


async def run(options: Options, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``options.scenario`` once and return its report (see docs/benchmarks.md)."""
    options.check()
    module = scenario_module(options.scenario)
    plan = await module.prepare(options)
    api_urls = list(options.api_urls)
    progress = progress or Progress(enabled=False)
    before = await scrape(api_urls)
    handles = start_workers(options, plan)
    try:
        progress.phase("connecting", options)
        await _gather(handles, "ready", progress)
        ready = await scrape(api_urls)
        t0 = time.monotonic_ns() + _START_DELAY_NS
        started = time.time()
        for handle in handles:
            handle.channel.send(("go", t0))
        progress.phase("load", options, t0_ns=t0)
        results = await _gather(handles, "result", progress)
        wall = time.time() - started
        end = await scrape(api_urls)
    finally:
        for handle in handles:
            handle.channel.send(("close",))
        await asyncio.gather(*(handle.join() for handle in handles))
        progress.phase("done", options)
    merged = Measurements()
    generator_cpu = 0.0
    for wire, cpu in results:
        merged.merge(Measurements.from_wire(wire))
        generator_cpu += cpu
    server = _server_figures(before, ready, end)
    summary = module.summarize(merged, options, plan, server)
    series = "ack" if options.scenario == "likes" else "delivery"
    return {
        "scenario": options.scenario,
        "target": options.target,
        "options": {k: v for k, v in dataclasses.asdict(options).items()
                    if k not in ("secret", "api_key")},
        "summary": summary,
        "server": server,
        "generator": {"cpu_seconds": generator_cpu, "wall_seconds": wall,
                      "cpu_share": generator_cpu / wall if wall else 0.0,
                      "workers": options.workers, "client": options.client},
        "counters": dict(merged.counters),
        "per_second": merged.per_second(series),
    }


async def _gather(handles: list[WorkerHandle], kind: str,
                  progress: Progress) -> list[tuple[Any, ...]]:
    """Wait for message ``kind`` from every worker, showing their progress meanwhile."""
    answers: dict[int, tuple[Any, ...]] = {}

    async def one(i: int, handle: WorkerHandle) -> None:
        while True:
            message = await handle.channel.recv()
            if message[0] == "failed":
                detail = message[1]
                if handle.process is not None:
                    await asyncio.to_thread(handle.process.join, 5)
                    detail += f" (exit code {handle.process.exitcode})"
                raise RunFailed(f"worker {i} failed:\n{detail}")
            if message[0] in ("progress", "ready"):
                handle.counters = message[1]
                progress.update([h.counters for h in handles])
            if message[0] == kind:
                answers[i] = message[1:]
                return

    try:
        async with asyncio.TaskGroup() as group:
            for i, handle in enumerate(handles):
                group.create_task(one(i, handle))
    except* RunFailed as failures:
        raise failures.exceptions[0] from None
    return [answers[i] for i in range(len(handles))]


def _server_figures(before: ServerSample | None, ready: ServerSample | None,
                    end: ServerSample | None) -> dict[str, Any] | None:
    if before is None or ready is None or end is None:
        return None
    load = end - ready
    return {
        "cpu_seconds": load.cpu_seconds,
        "cpu_share": load.cpu_seconds / load.at if load.at else 0.0,
        "rss_before": before.rss_bytes,
        "rss_ready": ready.rss_bytes,
        "rss_end": end.rss_bytes,
    }


def step_rates(first: float, last: float, factor: float) -> list[float]:
    """first, first*factor, ... up to ``last`` (included)."""
    if factor <= 1:
        raise ValueError("--step-factor must be above 1")
    rates, rate = [], first
    while rate < last * (1 + 1e-9):
        rates.append(round(rate, 3))
        rate *= factor
    if rates[-1] < last:
        rates.append(last)
    return rates


def passes(report: dict[str, Any], p99_max_ms: float) -> bool:
    """Whether a run had zero loss, every send answered, no errors, no duplicates, and
    p99 within the bound."""
    summary = report["summary"]
    latency = summary.get("latency_ms") or summary.get("ack_latency_ms") or {}
    return (summary.get("lost", 0) == 0 and summary.get("unanswered", 0) == 0
            and summary.get("duplicates", 0) == 0
            and summary.get("errors", 0) == 0 and summary.get("connect_failed", 0) == 0
            and latency.get("p99", 0.0) <= p99_max_ms)


async def run_steps(options: Options, progress: Progress | None = None) -> dict[str, Any]:
    """Run at each offered rate from ``step_from`` to ``step_to`` until one fails;
    return the steps and the highest rate that passed (zero loss, p99 under bound)."""
    assert options.step_from is not None and options.step_to is not None
    steps = []
    best: float | None = None
    for rate in step_rates(options.step_from, options.step_to, options.step_factor):
        report = await run(options.replace(rate=rate), progress)
        ok = passes(report, options.p99_max)
        steps.append({"rate": rate, "passed": ok, "report": report})
        if not ok:
            break
        best = rate
    return {"scenario": options.scenario, "target": options.target,
            "p99_max_ms": options.p99_max, "best_rate": best, "steps": steps}
