"""``python -m loadtest baseline``: the node against the raw relay, in one run.

For each round and each scenario (``dm``, ``fanout``, ``idle``), start the baseline relay
and a node as fresh processes pinned to the server core (``taskset -c``), run the same
scenario against each, alternating which goes first, and stop them. Then report, per
scenario and target, the median of the rounds with its spread (min-max), and the ratio
node / relay of the medians: the figures BENCHMARKS' targets are stated in.

Run the generator on the other core: ``taskset -c 1 python -m loadtest baseline ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

import aiohttp
from rich.console import Console
from rich.table import Table

from loadtest.options import Options
from loadtest.progress import Progress
from loadtest.report import wide_console, write_json
from loadtest.runner import run

__all__ = ["main"]

# The figure each scenario is judged by, and the summary key holding it.
FIGURES = {
    "dm": ("cpu_us_per_delivery", "CPU us/delivery"),
    "fanout": ("cpu_us_per_delivery", "CPU us/delivery"),
    "idle": ("memory_per_connection_kb", "KiB/connection"),
}


@dataclass(frozen=True)
class Server:
    ws_url: str
    api_url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pinned(cpu: str | None, argv: list[str]) -> list[str]:
    return (["taskset", "-c", cpu, *argv]) if cpu else argv


@contextlib.asynccontextmanager
async def _process(argv: list[str], env: dict[str, str], health: str,
                   log: IO[bytes]) -> AsyncIterator[None]:
    """Run ``argv`` until the block ends; enter once ``health`` answers 200."""
    process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"{argv} exited with {process.returncode}; "
                                       "see --server-log")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(health) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not become healthy; see --server-log")
                await asyncio.sleep(0.1)  # a poll interval of the start-up
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def relay(cpu: str | None, log: IO[bytes]) -> AsyncIterator[Server]:
    """A baseline relay process on a free port."""
    port = _free_port()
    argv = _pinned(cpu, [sys.executable, "-m", "loadtest.baseline_relay", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    async with _process(argv, dict(os.environ), f"{base}/metrics", log):
        yield Server(f"ws://127.0.0.1:{port}/ws", base)


@contextlib.asynccontextmanager
async def node(cpu: str | None, secret: str, api_key: str, database_url: str | None,
               log: IO[bytes]) -> AsyncIterator[Server]:
    """A node process (``realtime serve``) on free ports, with limits raised for load."""
    port, api_port = _free_port(), _free_port()
    data_dir = tempfile.mkdtemp(prefix="loadtest-node-")
    env = dict(os.environ)
    env.update({
        "REALTIME_HOST": "127.0.0.1",
        "REALTIME_PORT": str(port),
        "REALTIME_API_PORT": str(api_port),
        "REALTIME_JWT_SECRET": secret,
        "REALTIME_API_KEY": api_key,
        "REALTIME_DATA_DIR": data_dir,
        "REALTIME_LIMIT_RATE": "100000",
        "REALTIME_LIMIT_BURST": "100000",
        "REALTIME_LIMIT_CONNECTIONS": "19500",
        "REALTIME_LOG_LEVEL": "warning",
    })
    env.pop("REALTIME_REDIS_URL", None)
    if database_url:
        env["REALTIME_DATABASE_URL"] = database_url
    else:
        env.pop("REALTIME_DATABASE_URL", None)
    argv = _pinned(cpu, [sys.executable, "-m", "realtime.cli", "serve"])
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with _process(argv, env, f"{base}/healthz", log):
            yield Server(f"ws://127.0.0.1:{port}/ws", base)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _median_spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def _figures(summary: dict[str, Any], scenario: str) -> dict[str, float]:
    key = FIGURES[scenario][0]
    out = {key: float(summary.get(key, float("nan")))}
    latency = summary.get("latency_ms")
    if latency:
        out["p50_ms"] = latency["p50"]
        out["p99_ms"] = latency["p99"]
    for extra in ("lost", "unanswered", "duplicates", "delivered_per_s", "still_open"):
        if extra in summary:
            out[extra] = float(summary[extra])
    return out


async def compare(args: argparse.Namespace, log: IO[bytes]) -> dict[str, Any]:
    secret, api_key = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    if args.database_url and args.migrate:
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "realtime.cli", "migrate", "--database-url",
            args.database_url, stdout=log, stderr=subprocess.STDOUT)
        if await migrate.wait() != 0:
            raise RuntimeError("realtime migrate failed; see --server-log")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    console = Console(stderr=True)
    for round_ in range(args.rounds):
        for scenario in args.scenarios:
            order = ("relay", "node") if round_ % 2 == 0 else ("node", "relay")
            for target in order:
                console.print(f"round {round_ + 1}/{args.rounds}: {scenario} -> {target}")
                if target == "relay":
                    server_cm = relay(args.server_cpu, log)
                else:
                    server_cm = node(args.server_cpu, secret, api_key, args.database_url, log)
                async with server_cm as server:
                    options = Options(
                        scenario=scenario, target=target, urls=(server.ws_url,),
                        api_urls=(server.api_url,), api_key=api_key, secret=secret,
                        connections=getattr(args, f"{scenario}_connections"),
                        rate=getattr(args, f"{scenario}_rate"),
                        duration=args.duration, workers=args.workers,
                        body_size=args.body_size, client=args.client, live=False,
                    )
                    report = await run(options, Progress(enabled=False))
                results.setdefault(scenario, {}).setdefault(target, []).append(report)
                console.print(f"  {_figures(report['summary'], scenario)}")
    return _conclude(results, args)


def _conclude(results: dict[str, dict[str, list[dict[str, Any]]]],
              args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items()
                                        if k not in ("func",)}, "scenarios": {}}
    for scenario, by_target in results.items():
        entry: dict[str, Any] = {}
        for target, reports in by_target.items():
            figures = [_figures(r["summary"], scenario) for r in reports]
            entry[target] = {
                name: _median_spread([f[name] for f in figures if name in f])
                for name in figures[0]
            }
            entry[target]["server_cpu_share"] = _median_spread(
                [r["server"]["cpu_share"] for r in reports if r.get("server")])
            entry[target]["generator_cpu_share"] = _median_spread(
                [r["generator"]["cpu_share"] for r in reports])
            entry[target]["reports"] = reports
        key = FIGURES[scenario][0]
        if "node" in entry and "relay" in entry:
            entry["ratio"] = entry["node"][key]["median"] / entry["relay"][key]["median"]
        out["scenarios"][scenario] = entry
    return out


def print_comparison(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or wide_console()
    table = Table(title="the node against the raw aiohttp relay (medians, min-max)")
    for column in ("scenario", "figure", "relay", "node", "node/relay", "node p99 ms",
                   "node lost"):
        table.add_column(column, justify="right")

    def cell(stats: dict[str, float]) -> str:
        return f"{stats['median']:.2f} ({stats['min']:.2f}-{stats['max']:.2f})"

    for scenario, entry in result["scenarios"].items():
        key, label = FIGURES[scenario]
        node_entry, relay_entry = entry.get("node", {}), entry.get("relay", {})
        table.add_row(
            scenario, label,
            cell(relay_entry[key]) if key in relay_entry else "-",
            cell(node_entry[key]) if key in node_entry else "-",
            f"{entry['ratio']:.2f}x" if "ratio" in entry else "-",
            cell(node_entry["p99_ms"]) if "p99_ms" in node_entry else "-",
            f"{node_entry['lost']['max']:.0f}" if "lost" in node_entry else "-",
        )
    console.print(table)


def plot_comparison(result: dict[str, Any], path: str) -> None:
    """Bars: each scenario's figure for the relay and the node, each round a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(result["scenarios"])
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4 * len(scenarios), 4), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        key, label = FIGURES[scenario]
        entry = result["scenarios"][scenario]
        for x, target in enumerate(("relay", "node")):
            if target not in entry:
                continue
            ax.bar(x, entry[target][key]["median"], color=("tab:gray", "tab:blue")[x])
            runs = [r["summary"].get(key) for r in entry[target]["reports"]]
            ax.plot([x] * len(runs), runs, "k.", zorder=3)
        ax.set_xticks([0, 1], ["relay", "node"])
        ax.set_title(f"{scenario}" + (f": {entry['ratio']:.2f}x" if "ratio" in entry else ""))
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="dm,fanout,idle",
                        type=lambda s: [x for x in s.split(",") if x])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--server-cpu", default="0", help="CPU list the servers are pinned to "
                                                          "('' for none)")
    parser.add_argument("--database-url", help="the node's PostgreSQL (default: SQLite)")
    parser.add_argument("--no-migrate", dest="migrate", action="store_false")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--client", default="aiohttp", choices=("aiohttp", "websockets"))
    parser.add_argument("--body-size", type=int, default=64)
    parser.add_argument("--dm-connections", type=int, default=1000, help="pairs")
    parser.add_argument("--dm-rate", type=float, default=5000.0)
    parser.add_argument("--fanout-connections", type=int, default=1000, help="members")
    parser.add_argument("--fanout-rate", type=float, default=10.0)
    parser.add_argument("--idle-connections", type=int, default=19000)
    parser.add_argument("--idle-rate", type=float, default=0.0)
    parser.add_argument("--server-log", default=os.devnull)
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--plot", dest="plot_path")
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in FIGURES]
    if unknown:
        parser.error(f"the relay runs only {', '.join(FIGURES)}, not {', '.join(unknown)}")
    import uvloop

    with open(args.server_log, "ab") as log:
        result = uvloop.run(compare(args, log))
    print_comparison(result, wide_console())
    if args.json_path:
        write_json(result, args.json_path)
    if args.plot_path:
        plot_comparison(result, args.plot_path)
    return 0
