"""Rate stepping: the offered rates, and the search for the highest passing one."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.runner import run_steps, step_rates
from realtime.node import Node
from tests.fixtures.node import NodeFactory
from tests.loadtest.test_scenarios import options_for


def test_step_rates_grow_by_the_factor_and_end_on_the_last_rate() -> None:
    assert step_rates(100, 400, 2) == [100, 200, 400]
    assert step_rates(100, 300, 2) == [100, 200, 300]


async def test_stepping_reports_the_highest_rate_that_passed(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    node: Node = await node_factory(limit_rate=100_000.0, limit_burst=100_000)
    options = options_for(node, "dm", step_from=50.0, step_to=100.0, step_factor=2.0,
                          p99_max=10_000.0)
    result = await run_steps(options)
    assert [step["rate"] for step in result["steps"]] == [50.0, 100.0]
    assert result["best_rate"] == 100.0
    pytest.importorskip("matplotlib")
    from loadtest.plots import plot_run, plot_steps

    plot_steps(result, str(tmp_path / "steps.png"))
    plot_run(result["steps"][-1]["report"], str(tmp_path / "run.png"))
    assert (tmp_path / "steps.png").stat().st_size > 0
    assert (tmp_path / "run.png").stat().st_size > 0
