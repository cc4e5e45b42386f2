"""The Compose file, the Helm chart's files, the HAProxy configuration and the Grafana
dashboard parse, and name only settings and metrics that exist (the chart's rendering is
checked in test_helm_chart.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from realtime.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
CHART_FILES = sorted((ROOT / "deploy" / "helm" / "realtime").rglob("*.yaml"))
SETTING_NAMES = {s.env for s in SETTINGS}
FILES_NAMING_SETTINGS = [ROOT / "Dockerfile", ROOT / "compose.yaml", *CHART_FILES,
                         ROOT / "docs" / "deploy.md"]


@pytest.mark.parametrize("path", FILES_NAMING_SETTINGS, ids=lambda p: p.name)
def test_every_realtime_variable_a_deploy_file_names_is_a_setting(path: Path) -> None:
    named = set(re.findall(r"REALTIME_[A-Z0-9_]+", path.read_text()))
    assert named <= SETTING_NAMES


def test_compose_runs_three_nodes_a_migration_redis_postgres_and_a_balancer() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    nodes = [s for name, s in services.items() if name.startswith("node")]
    assert len(nodes) == 3
    assert {"postgres", "redis", "migrate", "lb"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"]
    for node in nodes:
        env = node["environment"]
        assert set(env) <= SETTING_NAMES
        assert env["REALTIME_DATABASE_URL"].startswith("postgresql://")
        assert env["REALTIME_REDIS_URL"].startswith("redis://")
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert len({n["environment"]["REALTIME_NODE_ID"] for n in nodes}) == 3


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_the_haproxy_configuration_is_valid() -> None:
    checked = subprocess.run(["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_queries_only_documented_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    queried = {re.sub(r"_(bucket|sum|count)$", "", m)
               for m in re.findall(r"realtime_[a-z_]+", exprs)}
    documented = set(re.findall(r"`(realtime_[a-z_]+)`",
                                (ROOT / "docs" / "metrics.md").read_text()))
    assert queried <= documented
    # Every documented metric is on the dashboard.
    assert documented <= queried
