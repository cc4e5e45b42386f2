"""``python -m loadtest soak``: steady DM traffic for minutes; do memory and fds stay flat?

The ``dm`` scenario runs at ``--rate`` for ``--minutes`` (pairs split across the nodes,
so every DM crosses nodes) while each node's ``/metrics`` is read every ``--every``
seconds for ``process_resident_memory_bytes`` and ``process_open_fds``. The report gives,
per node, the least-squares slope of each over the steady part of the run (after
``--warmup`` seconds, while caches and pools fill up), in KiB/min and fds/min, next to
the dm run's own figures (acked, lost, duplicates, latency). ``--plot`` draws both
series per node with their fitted lines.

Without ``--url`` it starts a local cluster (:mod:`loadtest.cluster`) of ``--nodes``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from loadtest.cluster import LocalCluster
from loadtest.help_text import prog
from loadtest.options import Options
from loadtest.runner import run

__all__ = ["Sample", "fit", "main", "sample_node", "slopes"]


@dataclass(frozen=True)
class Sample:
    """One node's resident memory and open fds at ``at`` seconds since the start."""

    at: float
    rss_bytes: float
    open_fds: float


@dataclass
class Series:
    """Every sample of one node."""

    api_url: str
    samples: list[Sample] = field(default_factory=list)


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """The least-squares line through the points: (slope, intercept). Fewer than two
    points, or no spread in ``xs``: a flat line through the mean."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0, (statistics.fmean(ys) if ys else 0.0)
    slope, intercept = statistics.linear_regression(xs, ys)
    return slope, intercept


def slopes(series: Series, warmup: float) -> dict[str, Any]:
    """A node's figures over the samples taken after ``warmup`` seconds."""
    steady = [s for s in series.samples if s.at >= warmup] or series.samples
    minutes = [s.at / 60 for s in steady]
    rss_slope, _ = fit(minutes, [s.rss_bytes / 1024 for s in steady])
    fds_slope, _ = fit(minutes, [s.open_fds for s in steady])
    first, last = steady[0], steady[-1]
    return {
        "api_url": series.api_url,
        "samples": len(steady),
        "rss_mib_first": first.rss_bytes / 2**20,
        "rss_mib_last": last.rss_bytes / 2**20,
        "rss_kib_per_min": rss_slope,
        "fds_first": first.open_fds,
        "fds_last": last.open_fds,
        "fds_per_min": fds_slope,
    }


async def sample_node(http: aiohttp.ClientSession, api_url: str, at: float) -> Sample | None:
    """Read one node's RSS and open fds from its ``/metrics``; ``None`` if it is down."""
    try:
        async with http.get(f"{api_url.rstrip('/')}/metrics") as response:
            response.raise_for_status()
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("process_resident_memory_bytes", "process_open_fds"):
                values[sample.name] = sample.value
    if len(values) < 2:
        return None
    return Sample(at, values["process_resident_memory_bytes"], values["process_open_fds"])


async def _sample_until(stop: asyncio.Event, series: list[Series], every: float,
                        t0: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        while not stop.is_set():
            at = time.monotonic() - t0
            taken = await asyncio.gather(*(sample_node(http, s.api_url, at) for s in series))
            for one, sample in zip(series, taken, strict=True):
                if sample is not None:
                    one.samples.append(sample)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await stop.wait()


async def soak(args: argparse.Namespace, urls: list[str], api_urls: list[str], secret: str,
               api_key: str) -> dict[str, Any]:
    """Run the dm load and the sampler side by side; return the report."""
    options = Options(scenario="dm", urls=tuple(urls), api_urls=tuple(api_urls),
                      api_key=api_key, secret=secret, connections=args.connections,
                      rate=args.rate, duration=args.minutes * 60, workers=args.workers,
                      drain=args.drain, live=False)
    series = [Series(url) for url in api_urls]
    stop = asyncio.Event()
    t0 = time.monotonic()
    sampler = asyncio.create_task(_sample_until(stop, series, args.every, t0))
    try:
        report = await run(options)
    finally:
        stop.set()
        await sampler
    summary = report["summary"]
    return {
        "minutes": args.minutes, "rate": args.rate, "connections": args.connections,
        "warmup_s": args.warmup, "every_s": args.every,
        "dm": {key: summary.get(key) for key in
               ("sent", "acked", "delivered", "lost", "duplicates", "unanswered", "errors",
                "latency_ms", "delivered_per_s")},
        "nodes": [slopes(s, args.warmup) for s in series],
        "series": [{"api_url": s.api_url,
                    "samples": [[x.at, x.rss_bytes, x.open_fds] for x in s.samples]}
                   for s in series],
    }


def print_soak(result: dict[str, Any]) -> None:
    dm = result["dm"]
    print(f"soak: {result['minutes']:g} min of dm at {result['rate']:g}/s, "
          f"{result['connections']} pairs; slopes after {result['warmup_s']:g} s")
    print(f"  dm: {dm['acked']} acked, {dm['lost']} lost, {dm['duplicates']} duplicated, "
          f"{dm['unanswered']} unanswered; p99 {(dm['latency_ms'] or {}).get('p99', 0):.1f} ms")
    for node in result["nodes"]:
        print(f"  {node['api_url']}: RSS {node['rss_mib_first']:.1f} -> "
              f"{node['rss_mib_last']:.1f} MiB, slope {node['rss_kib_per_min']:+.1f} KiB/min; "
              f"fds {node['fds_first']:.0f} -> {node['fds_last']:.0f}, "
              f"slope {node['fds_per_min']:+.2f}/min ({node['samples']} samples)")


def plot_soak(result: dict[str, Any], path: str) -> None:
    """RSS and open fds over time, one line per node, with the fitted slopes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for index, (node, raw) in enumerate(zip(result["nodes"], result["series"], strict=True)):
        points = raw["samples"]
        minutes = [p[0] / 60 for p in points]
        color = f"C{index}"
        top.plot(minutes, [p[1] / 2**20 for p in points], ".", color=color, markersize=3,
                 label=f"node {index}: {node['rss_kib_per_min']:+.1f} KiB/min")
        bottom.plot(minutes, [p[2] for p in points], ".", color=color, markersize=3,
                    label=f"node {index}: {node['fds_per_min']:+.2f} fds/min")
        steady = [p for p in points if p[0] >= result["warmup_s"]]
        if len(steady) >= 2:
            xs = [p[0] / 60 for p in steady]
            for axes, values in ((top, [p[1] / 1024 for p in steady]),
                                 (bottom, [p[2] for p in steady])):
                slope, intercept = fit(xs, values)
                scale = 1024 if axes is top else 1
                axes.plot([xs[0], xs[-1]], [(intercept + slope * x) / scale for x in
                                            (xs[0], xs[-1])], "-", color=color)
    top.set_ylabel("resident memory, MiB")
    bottom.set_ylabel("open file descriptors")
    bottom.set_xlabel("minutes since start")
    for axes in (top, bottom):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    fig.suptitle(f"soak: dm at {result['rate']:g}/s for {result['minutes']:g} min "
                 f"(lines fitted after {result['warmup_s']:g} s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    if args.urls:
        return await soak(args, args.urls, args.api_urls or [], args.secret, args.api_key)
    async with LocalCluster(args.nodes, keep=args.log_dir) as cluster:
        return await soak(args, cluster.ws_urls, cluster.api_urls, cluster.secret,
                          cluster.api_key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("soak"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="DMs per second")
    parser.add_argument("--connections", type=int, default=200, help="pairs")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds left out of the slopes")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--drain", type=float, default=30.0)
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the local cluster")
    parser.add_argument("--url", dest="urls", action="append",
                        help="a running node instead of a local cluster; repeatable")
    parser.add_argument("--api-url", dest="api_urls", action="append")
    parser.add_argument("--secret")
    parser.add_argument("--api-key")
    parser.add_argument("--log-dir", help="keep the local cluster's node logs here")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--plot", dest="plot_path")
    args = parser.parse_args(argv)
    if args.urls and not (args.api_urls and args.secret):
        parser.error("--url needs --api-url (the nodes' /metrics) and --secret")
    import uvloop

    result = uvloop.run(_main(args))
    print_soak(result)
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(result, out, indent=1)
    if args.plot_path:
        plot_soak(result, args.plot_path)
    return 0
