"""PNG plots of a run (percentiles over time) and of rate stepping (against offered rate).

matplotlib (the ``loadtest`` extra) draws with the Agg backend: no display needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_run", "plot_steps"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(report: dict[str, Any], path: str) -> None:
    """Latency percentiles and arrivals per second over the run, one point per second."""
    plt = _pyplot()
    rows = report["per_second"]
    seconds = list(range(len(rows)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for key in ("p50", "p90", "p99", "max"):
        # A second without arrivals has no latency: a gap, not a zero.
        values = [r[key] if r["count"] else float("nan") for r in rows]
        top.plot(seconds, values, label=key, marker=".")
    top.set_ylabel("latency, ms")
    top.set_yscale("log")
    top.legend()
    top.grid(True, which="both", alpha=0.3)
    bottom.bar(seconds, [r["count"] for r in rows], color="tab:gray")
    bottom.set_ylabel("latencies recorded per second")
    bottom.set_xlabel("seconds since start")
    bottom.grid(True, alpha=0.3)
    o = report["options"]
    fig.suptitle(f"{report['scenario']} against the {report['target']}: "
                 f"{o['connections']} connections, {o['rate']:g}/s offered")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_steps(result: dict[str, Any], path: str) -> None:
    """p50/p90/p99 against the offered rate, one point per step."""
    plt = _pyplot()
    rates: list[float] = []
    series: dict[str, list[float]] = {"p50": [], "p90": [], "p99": []}
    for step in result["steps"]:
        summary = step["report"]["summary"]
        latency = summary.get("latency_ms") or summary.get("ack_latency_ms") or {}
        rates.append(step["rate"])
        for key in series:
            series[key].append(latency.get(key, 0.0))
    fig, axes = plt.subplots(figsize=(8, 4.5))
    for key, values in series.items():
        axes.plot(rates, values, marker="o", label=key)
    axes.axhline(result["p99_max_ms"], color="red", linestyle="--", label="p99 bound")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("offered rate per second")
    axes.set_ylabel("latency, ms")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    axes.set_title(f"{result['scenario']} against the {result['target']}: latency vs rate")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
