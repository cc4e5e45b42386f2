"""PNG figures of a run and of rate stepping, each readable at a glance.

One figure holds everything a run is judged by: latency on a linear axis with p50, p90,
p99 and max all visible, the offered and achieved rates, and underneath the loss and the
CPU the server and the generator spent. matplotlib (the ``loadtest`` extra) draws with
the Agg backend: no display needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_run", "plot_steps", "run_figure", "run_footer", "steps_figure"]

_LATENCIES = ("p50", "p90", "p99", "max")
_COLORS = {"p50": "tab:green", "p90": "tab:blue", "p99": "tab:orange", "max": "tab:red"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _latency(summary: dict[str, Any]) -> dict[str, float]:
    return summary.get("latency_ms") or summary.get("ack_latency_ms") or {}


def _achieved(summary: dict[str, Any]) -> float:
    return float(summary.get("delivered_per_s", summary.get("acked_per_s", 0.0)))


def run_footer(report: dict[str, Any]) -> str:
    """The line under a run's figure: loss, errors, and the CPU both sides spent."""
    s = report["summary"]
    acked = s.get("acked") or s.get("sent") or 0
    lost = s.get("lost", 0)
    share = f" ({lost / acked:.3%})" if acked else ""
    parts = [f"lost {lost:,}{share}", f"unanswered {s.get('unanswered', 0):,}",
             f"duplicates {s.get('duplicates', 0):,}", f"errors {s.get('errors', 0):,}"]
    server = report.get("server")
    parts.append(f"server CPU {server['cpu_share']:.0%} of a core" if server
                 else "server CPU not measured")
    if server and s.get("cpu_us_per_delivery"):
        parts.append(f"{s['cpu_us_per_delivery']:.0f} µs per delivery")
    generator = report.get("generator") or {}
    if generator:
        parts.append(f"generator CPU {generator.get('cpu_share', 0.0):.0%}")
    return " · ".join(parts)


def plot_run(report: dict[str, Any], path: str) -> None:
    """Write :func:`run_figure` of ``report`` to ``path`` (PNG)."""
    _save(run_figure(report), path)


def plot_steps(result: dict[str, Any], path: str) -> None:
    """Write :func:`steps_figure` of ``result`` to ``path`` (PNG)."""
    _save(steps_figure(result), path)


def _save(fig: Any, path: str) -> None:
    plt = _pyplot()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_figure(report: dict[str, Any]) -> Any:
    """Latency percentiles (linear) and rates over the run, one point per second, with
    the loss and CPU underneath: a matplotlib Figure."""
    plt = _pyplot()
    rows = report["per_second"]
    seconds = list(range(len(rows)))
    summary = report["summary"]
    whole = _latency(summary)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    highest = 0.0
    for key in _LATENCIES:
        # A second without arrivals has no latency: a gap, not a zero.
        values = [r[key] if r["count"] else float("nan") for r in rows]
        highest = max([highest, *(v for v in values if v == v)])
        label = f"{key} (run: {whole[key]:.1f} ms)" if key in whole else key
        top.plot(seconds, values, label=label, marker=".", color=_COLORS[key])
    # Linear, from zero, up to the largest max: every percentile stays on the chart.
    top.set_ylim(0, highest * 1.08 if highest > 0 else 1)
    top.set_ylabel("latency, ms (linear)")
    top.legend(loc="upper left", fontsize="small")
    top.grid(True, alpha=0.3)
    o = report["options"]
    duration = float(o.get("duration") or len(rows) or 1)
    bottom.bar(seconds, [r["count"] for r in rows], color="tab:gray", alpha=0.5,
               label="achieved: latencies recorded per second")
    bottom.axhline(o["rate"], color="tab:purple", linestyle="--",
                   label=f"offered: {o['rate']:g} sends/s")
    sent = summary.get("sent")
    if sent is not None:
        bottom.axhline(sent / duration, color="tab:purple", linestyle=":",
                       label=f"achieved: {sent / duration:,.0f} sends/s")
    achieved = _achieved(summary)
    if achieved:
        bottom.axhline(achieved, color="black", linewidth=1,
                       label=f"achieved: {achieved:,.0f} deliveries/s (run)")
    bottom.set_ylabel("per second")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="lower left", fontsize="small")
    bottom.grid(True, alpha=0.3)
    fig.suptitle(f"{report['scenario']} against the {report['target']}: "
                 f"{o['connections']} connections, {o['rate']:g}/s offered")
    fig.text(0.5, 0.01, run_footer(report), ha="center", fontsize="small")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def steps_figure(result: dict[str, Any]) -> Any:
    """Against the offered rate, one point per step: latency (linear, p50 to max),
    achieved rate, loss, and the server's CPU: a matplotlib Figure."""
    plt = _pyplot()
    steps = result["steps"]
    rates = [step["rate"] for step in steps]
    summaries = [step["report"]["summary"] for step in steps]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    (latency, rate), (loss, cpu) = axes
    highest = 0.0
    for key in _LATENCIES:
        values = [_latency(s).get(key, 0.0) for s in summaries]
        highest = max(highest, *values)
        latency.plot(rates, values, marker="o", label=key, color=_COLORS[key])
    bound = result["p99_max_ms"]
    # Scaled to the measurements, not to a bound far above them: every percentile shows.
    top = highest * 1.1 if highest > 0 else bound * 1.1
    above = " (above the chart)" if bound > top else ""
    latency.axhline(bound, color="tab:orange", linestyle="--",
                    label=f"p99 bound {bound:g} ms{above}")
    latency.set_ylim(0, top)
    latency.set_ylabel("latency, ms (linear)")
    latency.legend(fontsize="small")
    rate.plot(rates, rates, color="tab:purple", linestyle="--", label="offered")
    rate.plot(rates, [_achieved(s) for s in summaries], marker="o", color="black",
              label="achieved deliveries/s")
    rate.set_ylabel("per second")
    rate.legend(fontsize="small")
    loss.bar(rates, [s.get("lost", 0) for s in summaries], width=[r * 0.3 for r in rates],
             color=["tab:green" if step["passed"] else "tab:red" for step in steps])
    lost = [s.get("lost", 0) for s in summaries]
    loss.set_ylim(0, max(1, max(lost)) * 1.1)
    if not any(lost):
        loss.text(0.5, 0.5, "nothing lost", transform=loss.transAxes, ha="center")
    loss.set_ylabel("messages lost (red: step failed)")
    loss.set_xlabel("offered rate per second")
    shares = [(step["report"].get("server") or {}).get("cpu_share", float("nan")) * 100
              for step in steps]
    cpu.plot(rates, shares, marker="o", color="tab:brown", label="server")
    cpu.plot(rates, [(step["report"].get("generator") or {}).get("cpu_share", float("nan"))
                     * 100 for step in steps], marker=".", color="tab:gray",
             label="generator")
    cpu.set_ylim(bottom=0)
    cpu.set_ylabel("CPU, % of one core")
    cpu.set_xlabel("offered rate per second")
    cpu.legend(fontsize="small")
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{result['scenario']} against the {result['target']}: rate steps, "
                 f"highest passing {result['best_rate']}/s")
    fig.tight_layout()
    return fig
