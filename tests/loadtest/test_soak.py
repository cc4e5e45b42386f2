"""The soak's slopes, and ``python -m loadtest soak`` end to end on a small cluster."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from loadtest.cluster import ROOT, base_env
from loadtest.scenarios.soak import Sample, Series, fit, slopes


def test_fit_finds_the_slope_of_a_line() -> None:
    slope, intercept = fit([0.0, 1.0, 2.0, 3.0], [10.0, 12.0, 14.0, 16.0])
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(10.0)


def test_fit_of_a_single_point_is_flat() -> None:
    assert fit([1.0], [5.0]) == (0.0, 5.0)


def test_slopes_leave_the_warmup_out_and_speak_per_minute() -> None:
    series = Series("http://node", [
        Sample(0.0, 10 * 2**20, 10),  # start-up: left out
        *(Sample(60.0 * m, 50 * 2**20 + m * 1024, 100 + m) for m in range(1, 6)),
    ])
    figures = slopes(series, warmup=30.0)
    assert figures["samples"] == 5
    assert figures["rss_kib_per_min"] == pytest.approx(1.0)
    assert figures["fds_per_min"] == pytest.approx(1.0)


async def test_the_soak_command_samples_every_node_and_reports_slopes(tmp_path: Path) -> None:
    report, plot = tmp_path / "soak.json", tmp_path / "soak.png"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest", "soak", "--nodes", "2", "--minutes", "0.1",
        "--rate", "40", "--connections", "4", "--every", "1", "--warmup", "0", "--drain", "10",
        "--json", str(report), "--plot", str(plot), cwd=ROOT, env=base_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")
    result = json.loads(report.read_text())
    assert len(result["nodes"]) == 2
    assert all(node["samples"] >= 2 for node in result["nodes"])
    assert (result["dm"]["lost"], result["dm"]["duplicates"]) == (0, 0)
    assert plot.stat().st_size > 0
