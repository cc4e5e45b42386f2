"""The Compose file, the Kubernetes manifests, the HAProxy configuration and the Grafana
dashboard parse, and name only settings and metrics that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
SETTING_NAMES = {s.env for s in SETTINGS}
FILES_NAMING_SETTINGS = [ROOT / "Dockerfile", ROOT / "compose.yaml", *K8S,
                         ROOT / "docs" / "deploy.md"]


def manifests() -> dict[str, list[dict[str, Any]]]:
    """Kubernetes objects by kind."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path in K8S:
        for doc in yaml.safe_load_all(path.read_text()):
            by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


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


def test_kubernetes_manifests_parse_and_hold_every_part() -> None:
    kinds = manifests()
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret",
            "Job"} <= set(kinds)
    names = set(kinds["ConfigMap"][0]["data"]) | set(kinds["Secret"][0]["stringData"])
    assert names <= SETTING_NAMES


def test_the_deployment_probes_the_health_endpoints_and_drains_before_it_stops() -> None:
    deployment = manifests()["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "preStop" in container["lifecycle"]
    config = {k: float(v) for k, v in manifests()["ConfigMap"][0]["data"].items()
              if k in ("REALTIME_DRAIN_WINDOW", "REALTIME_DRAIN_TIMEOUT")}
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    # The grace period covers the pause and the whole drain.
    assert pod["terminationGracePeriodSeconds"] > pause + sum(config.values())
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"ws": 8765, "api": 8080}


def test_the_services_separate_the_public_and_the_internal_port() -> None:
    services = {s["metadata"]["name"]: s["spec"] for s in manifests()["Service"]}
    assert [p["targetPort"] for p in services["realtime"]["ports"]] == ["ws"]
    assert [p["targetPort"] for p in services["realtime-internal"]["ports"]] == ["api"]
    assert services["realtime-internal"]["type"] == "ClusterIP"


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
