"""``python -m loadtest baseline``: the node against the raw relay and Socket.IO, in one run.

For each round and each scenario (``dm``, ``fanout``, ``idle``), start the baseline relay,
the Socket.IO baseline (Socket.IO 4.8 on Node, where node and npm are installed) and a
node as fresh processes pinned to the server core (``taskset -c``), run the same scenario
against each, alternating which goes first (in reverse order every other round), and
stop them. Then report, per scenario and target, the median of the rounds with its spread
(min-max), and the ratios node / relay and node / Socket.IO of the medians: the figures
BENCHMARKS' targets are stated in.

Run the generator on the other core: ``taskset -c 1 python -m loadtest baseline ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from loadtest import targets
from loadtest.help_text import prog
from loadtest.options import TARGETS, Options
from loadtest.progress import Progress
from loadtest.report import wide_console, write_json
from loadtest.runner import run
from loadtest.socketio_server import SocketIOUnavailable, install

__all__ = ["main"]

# The order targets run in, in even rounds (odd rounds run it backwards), and their labels.
ORDER = ("relay", "socketio", "node")
LABELS = {"relay": "relay", "socketio": "Socket.IO", "node": "node"}
# The figure each scenario is judged by, and the summary key holding it.
FIGURES = {
    "dm": ("cpu_us_per_delivery", "CPU us/delivery"),
    "fanout": ("cpu_us_per_delivery", "CPU us/delivery"),
    "idle": ("memory_per_connection_kb", "KiB/connection"),
}


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


def _order(chosen: list[str], round_: int) -> list[str]:
    """The targets of round ``round_`` in the order they run."""
    order = [t for t in ORDER if t in chosen]
    return order if round_ % 2 == 0 else order[::-1]


def _server(target: str, args: argparse.Namespace, secret: str, api_key: str,
            socketio_folder: Path | None,
            log: IO[bytes]) -> contextlib.AbstractAsyncContextManager[targets.Server]:
    if target == "relay":
        return targets.relay(args.server_cpu, log)
    if target == "socketio":
        assert socketio_folder is not None
        return targets.socketio(args.server_cpu, socketio_folder, log)
    return targets.node(args.server_cpu, secret, api_key, args.database_url, log)


async def compare(args: argparse.Namespace, log: IO[bytes],
                  socketio_folder: Path | None = None) -> dict[str, Any]:
    """Run every round; ``socketio_folder`` is the installed Socket.IO baseline (needed
    when ``args.targets`` names it)."""
    secret, api_key = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    if args.database_url and args.migrate and "node" in args.targets:
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "realtime.cli", "migrate", "--database-url",
            args.database_url, stdout=log, stderr=subprocess.STDOUT)
        if await migrate.wait() != 0:
            raise RuntimeError("realtime migrate failed; see --server-log")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    console = Console(stderr=True)
    for round_ in range(args.rounds):
        for scenario in args.scenarios:
            for target in _order(args.targets, round_):
                console.print(f"round {round_ + 1}/{args.rounds}: {scenario} -> {target}")
                server_cm = _server(target, args, secret, api_key, socketio_folder, log)
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
        if "node" in entry and "socketio" in entry:
            entry["ratio_socketio"] = (entry["node"][key]["median"]
                                       / entry["socketio"][key]["median"])
        out["scenarios"][scenario] = entry
    return out


def print_comparison(result: dict[str, Any], console: Console | None = None) -> None:
    """Two tables: each scenario's figure per target with the node's ratios, then each
    target's latency, loss and CPU shares (what tells a figure from a saturated run)."""
    console = console or wide_console()
    figures = Table(title="the node against the raw aiohttp relay and Socket.IO "
                          "(medians, min-max)")
    for column in ("scenario", "figure", "relay", "Socket.IO", "node", "node/relay",
                   "node/Socket.IO"):
        figures.add_column(column, justify="right")
    runs = Table(title="latency, loss and CPU shares (medians; lost: the most in a round)")
    for column in ("scenario", "target", "p50 ms", "p99 ms", "lost", "server CPU share",
                   "generator CPU share"):
        runs.add_column(column, justify="right")

    def cell(stats: dict[str, float], digits: int = 2) -> str:
        return (f"{stats['median']:.{digits}f} "
                f"({stats['min']:.{digits}f}-{stats['max']:.{digits}f})")

    def ratio(entry: dict[str, Any], name: str) -> str:
        return f"{entry[name]:.2f}x" if name in entry else "-"

    for scenario, entry in result["scenarios"].items():
        key, label = FIGURES[scenario]
        by = {t: entry[t] for t in ORDER if t in entry}
        figures.add_row(
            scenario, label,
            *(cell(by[t][key]) if t in by and key in by[t] else "-" for t in ORDER),
            ratio(entry, "ratio"), ratio(entry, "ratio_socketio"),
        )
        for target, stats in by.items():
            runs.add_row(
                scenario, LABELS[target],
                cell(stats["p50_ms"], 1) if "p50_ms" in stats else "-",
                cell(stats["p99_ms"], 1) if "p99_ms" in stats else "-",
                f"{stats['lost']['max']:.0f}" if "lost" in stats else "-",
                cell(stats["server_cpu_share"]) if stats["server_cpu_share"].get("runs")
                else "-",
                cell(stats["generator_cpu_share"]),
            )
    console.print(figures)
    console.print(runs)
    if result.get("skipped"):
        console.print(result["skipped"])


def plot_comparison(result: dict[str, Any], path: str) -> None:
    """Bars: each scenario's figure for the relay, Socket.IO and the node, each round a
    dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"relay": "tab:gray", "socketio": "tab:orange", "node": "tab:blue"}
    scenarios = list(result["scenarios"])
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4 * len(scenarios), 4), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        key, label = FIGURES[scenario]
        entry = result["scenarios"][scenario]
        for x, target in enumerate(ORDER):
            if target not in entry:
                continue
            ax.bar(x, entry[target][key]["median"], color=colors[target])
            runs = [r["summary"].get(key) for r in entry[target]["reports"]]
            ax.plot([x] * len(runs), runs, "k.", zorder=3)
        ax.set_xticks(range(len(ORDER)), [LABELS[t] for t in ORDER])
        ratios = [f"{entry[name]:.2f}x {LABELS[t]}" for name, t in
                  (("ratio", "relay"), ("ratio_socketio", "socketio")) if name in entry]
        ax.set_title(scenario + (f": node = {', '.join(ratios)}" if ratios else ""),
                     fontsize=9)
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("baseline"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="dm,fanout,idle",
                        type=lambda s: [x for x in s.split(",") if x])
    parser.add_argument("--targets", default=",".join(ORDER),
                        type=lambda s: [x for x in s.split(",") if x],
                        help="which of relay, socketio, node to run (default: all three; "
                             "socketio is left out where node or npm is missing)")
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
    if not args.targets or any(t not in TARGETS for t in args.targets):
        parser.error(f"--targets takes some of {', '.join(ORDER)}")
    skipped = None
    socketio_folder = None
    if "socketio" in args.targets:
        try:
            socketio_folder = install()
        except SocketIOUnavailable as exc:
            skipped = str(exc)
            args.targets = [t for t in args.targets if t != "socketio"]
            Console(stderr=True).print(skipped)
            if not args.targets:
                return 1
    import uvloop

    with open(args.server_log, "ab") as log:
        result = uvloop.run(compare(args, log, socketio_folder))
    result["skipped"] = skipped
    print_comparison(result, wide_console())
    if args.json_path:
        write_json(result, args.json_path)
    if args.plot_path:
        plot_comparison(result, args.plot_path)
    return 0
