"""The final report: a terminal table, a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_report", "print_steps", "wide_console", "write_json"]


def wide_console() -> Console:
    """A console for reports: the terminal's width, or 140 columns into a file."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows = []
        for key, inner in value.items():
            rows += _rows(f"{prefix}.{key}" if prefix else key, inner)
        return rows
    if isinstance(value, float):
        return [(prefix, f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}")]
    if isinstance(value, int) and not isinstance(value, bool):
        return [(prefix, f"{value:,}")]
    return [(prefix, str(value))]


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    """Print a run's summary, the server's and the generator's figures."""
    console = console or wide_console()
    o = report["options"]
    table = Table(title=(f"{report['scenario']} against the {report['target']}: "
                         f"{o['connections']} connections, {o['rate']:g}/s offered, "
                         f"{o['duration']:g} s"))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in _rows("", report["summary"]):
        table.add_row(name, value)
    if report.get("server"):
        server = dict(report["server"])
        for key in ("rss_before", "rss_ready", "rss_end"):
            server[key] = server[key] / 2**20
        for name, value in _rows("server", server):
            table.add_row(name.replace("rss_", "rss_MiB_"), value)
    for name, value in _rows("generator", report["generator"]):
        table.add_row(name, value)
    console.print(table)


def print_steps(result: dict[str, Any], console: Console | None = None) -> None:
    """Print one row per offered rate of a stepping run, and the best rate."""
    console = console or wide_console()
    table = Table(title=f"{result['scenario']} against the {result['target']}: rate steps "
                        f"(p99 <= {result['p99_max_ms']:g} ms, zero loss)")
    for column in ("offered/s", "delivered/s", "p50 ms", "p99 ms", "lost", "server CPU",
                   "passed"):
        table.add_column(column, justify="right")
    for step in result["steps"]:
        summary = step["report"]["summary"]
        latency = summary.get("latency_ms") or summary.get("ack_latency_ms") or {}
        server = step["report"].get("server") or {}
        rate = summary.get("delivered_per_s", summary.get("acked_per_s", 0.0))
        table.add_row(f"{step['rate']:,.0f}", f"{rate:,.0f}",
                      f"{latency.get('p50', 0):.2f}", f"{latency.get('p99', 0):.2f}",
                      str(summary.get("lost", 0)),
                      f"{server.get('cpu_share', 0) * 100:.0f}%" if server else "-",
                      "yes" if step["passed"] else "no")
    console.print(table)
    console.print(f"highest passing rate: {result['best_rate']}")


def write_json(data: dict[str, Any], path: str) -> None:
    """Write ``data`` as indented JSON to ``path``."""
    Path(path).write_text(json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"not JSON: {type(value).__name__}")
