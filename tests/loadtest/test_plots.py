"""The harness's figures read at a glance: a linear latency axis on which p50, p90, p99
and max all fit, the offered and achieved rates, and the loss and CPU, in one figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from loadtest.plots import plot_run, plot_steps, run_figure, steps_figure


def second(p50: float, p99: float, peak: float, count: int = 100) -> dict[str, float]:
    return {"count": count, "p50": p50, "p90": (p50 + p99) / 2, "p99": p99, "p99.9": peak,
            "max": peak, "mean": p50}


REPORT: dict[str, Any] = {
    "scenario": "dm", "target": "node",
    "options": {"connections": 200, "rate": 100.0, "duration": 4.0},
    "summary": {"sent": 400, "acked": 398, "delivered": 398, "delivered_per_s": 99.5,
                "lost": 2, "unanswered": 0, "duplicates": 0, "errors": 0,
                "cpu_us_per_delivery": 180.0,
                "latency_ms": {"p50": 2.0, "p90": 5.0, "p99": 12.0, "max": 250.0}},
    "server": {"cpu_share": 0.42, "cpu_seconds": 1.7},
    "generator": {"cpu_share": 0.3},
    # A quiet second (no arrivals) must leave a gap, and one outlier reach 250 ms.
    "per_second": [second(2, 10, 20), second(2, 12, 250), second(0, 0, 0, count=0),
                   second(3, 11, 30)],
}


def labels(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_runs_latency_axis_is_linear_and_holds_every_percentile_and_the_max() -> None:
    latency = run_figure(REPORT).axes[0]
    assert latency.get_yscale() == "linear"
    low, high = latency.get_ylim()
    assert low == 0 and high >= 250
    assert [label.split(" ")[0] for label in labels(latency)] == ["p50", "p90", "p99", "max"]
    assert "max (run: 250.0 ms)" in labels(latency)


def test_a_runs_figure_shows_offered_and_achieved_rates_loss_and_cpu() -> None:
    fig = run_figure(REPORT)
    rates = fig.axes[1]
    assert "offered: 100 sends/s" in labels(rates)
    assert "achieved: 100 sends/s" in labels(rates)
    assert any(label.startswith("achieved: 100 deliveries/s") for label in labels(rates))
    footer = " ".join(t.get_text() for t in fig.texts)
    assert "lost 2 (0.503%)" in footer
    assert "server CPU 42% of a core" in footer and "generator CPU 30%" in footer


def test_a_stepping_figure_holds_latency_rates_loss_and_cpu_per_step() -> None:
    steps = [{"rate": rate, "passed": lost == 0,
              "report": {**REPORT, "summary": {**REPORT["summary"], "lost": lost,
                                               "delivered_per_s": rate * 0.99}}}
             for rate, lost in ((100.0, 0), (200.0, 0), (400.0, 7))]
    result = {"scenario": "dm", "target": "node", "steps": steps, "p99_max_ms": 50.0,
              "best_rate": 200.0}
    fig = steps_figure(result)
    latency, rate, loss, cpu = fig.axes
    assert latency.get_yscale() == "linear" and latency.get_xscale() == "linear"
    assert labels(latency) == ["p50", "p90", "p99", "max", "p99 bound 50 ms"]
    assert labels(rate) == ["offered", "achieved deliveries/s"]
    assert [bar.get_height() for bar in loss.patches] == [0, 0, 7]
    assert labels(cpu) == ["server", "generator"]


def test_the_figures_are_written_as_png(tmp_path: Path) -> None:
    plot_run(REPORT, str(tmp_path / "run.png"))
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")
    result = {"scenario": "dm", "target": "node", "p99_max_ms": 50.0, "best_rate": 100.0,
              "steps": [{"rate": 100.0, "passed": True, "report": REPORT}]}
    plot_steps(result, str(tmp_path / "steps.png"))
    assert (tmp_path / "steps.png").read_bytes().startswith(b"\x89PNG")


def test_a_p99_bound_far_above_the_measurements_does_not_flatten_them() -> None:
    clean = {**REPORT, "summary": {**REPORT["summary"], "lost": 0}}
    result = {"scenario": "dm", "target": "node", "p99_max_ms": 10_000.0, "best_rate": 100.0,
              "steps": [{"rate": 100.0, "passed": True, "report": clean}]}
    latency, _, loss, _ = steps_figure(result).axes
    assert latency.get_ylim()[1] < 300  # the max is 250 ms: the chart is scaled to it
    assert labels(latency)[-1] == "p99 bound 10000 ms (above the chart)"
    assert loss.texts[0].get_text() == "nothing lost"
