"""The Helm chart under deploy/helm/realtime: rendered by Helm's own engine (the Helm SDK
through helm-python-sdk, no helm binary needed), every manifest validated against the
Kubernetes schemas (kubernetes-validate), the restricted Pod Security Standard checked,
and the parts an operator relies on present."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime.config import SETTINGS

helm = pytest.importorskip("helm_python", reason="helm-python-sdk renders the chart")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "realtime"
KUBERNETES = "1.30.0"
"""The Kubernetes version manifests are validated for (the chart needs 1.25 or later)."""

SECRETS = {"jwtSecret": "x" * 43, "apiKey": "an-api-key", "databaseUrl":
           "postgresql://realtime:pw@postgres:5432/realtime", "redisUrl": "redis://redis:6379/0"}

Manifest = dict[str, Any]


def render(values: dict[str, Any] | None = None) -> list[Manifest]:
    """Every object the chart renders for a release "rt" in namespace "prod"."""
    values = {"secrets": SECRETS} if values is None else values
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="rt", namespace="prod", is_install=True)
    return [doc for name, text in sorted(files.items()) if name.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def by_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def pod_specs(objects: list[Manifest]) -> list[tuple[str, Manifest]]:
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
            for o in objects if o["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")]


_RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                       "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod: Manifest) -> list[str]:
    """What in ``pod`` the "restricted" Pod Security Standard refuses (empty: admitted)."""
    found = []
    pod_ctx = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(flag)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    if pod_ctx.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    for c in pod.get("initContainers", []) + pod["containers"]:
        ctx, name = c.get("securityContext", {}), c["name"]
        if ctx.get("privileged"):
            found.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = ctx.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot is not true")
        if ctx.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is {seccomp}")
        if any("hostPort" in p for p in c.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found


def test_the_chart_lints_without_errors() -> None:
    assert helm.lint(str(CHART))["errors"] == []


def test_every_rendered_manifest_is_valid_kubernetes() -> None:
    objects = render()
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_every_optional_part_is_valid_kubernetes_too() -> None:
    objects = render({"secrets": SECRETS, "autoscaling": {"enabled": True},
                      "identity": {"firebaseProject": "my-app"},
                      "imagePullSecrets": [{"name": "registry"}],
                      "service": {"type": "ClusterIP", "annotations": {"a": "b"}}})
    assert {"HorizontalPodAutoscaler", "NetworkPolicy"} <= {o["kind"] for o in objects}
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_a_release_holds_every_part() -> None:
    kinds = sorted(o["kind"] for o in render())
    assert kinds == ["ConfigMap", "Deployment", "Job", "NetworkPolicy", "PodDisruptionBudget",
                     "Secret", "Secret", "Service", "Service"]


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    pods = pod_specs(render())
    assert [name for name, _ in pods] == ["Deployment/rt-realtime", "Job/rt-realtime-migrate"]
    for name, pod in pods:
        assert restricted_violations(pod) == [], name


def test_the_restricted_check_itself_catches_what_the_standard_refuses() -> None:
    pod = {"hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
           "containers": [{"name": "c", "securityContext": {"privileged": True,
                                                            "capabilities": {"add": ["SYS_ADMIN"]}},
                           "ports": [{"containerPort": 80, "hostPort": 80}]}]}
    found = restricted_violations(pod)
    assert len(found) == 9, found


def test_the_image_is_the_charts_app_version_which_is_the_servers_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert chart["appVersion"] == project
    images = {c["image"] for _, pod in pod_specs(render()) for c in pod["containers"]}
    assert images == {f"realtime:{project}"}
    pinned = render({"secrets": SECRETS, "image": {"repository": "r.example/rt", "tag": "9"}})
    assert {c["image"] for _, p in pod_specs(pinned) for c in p["containers"]} == {"r.example/rt:9"}


def test_the_internal_api_is_never_exposed_outside_the_cluster() -> None:
    objects = render({"secrets": SECRETS, "service": {"type": "NodePort"}})
    services = {s["metadata"]["name"]: s["spec"] for s in by_kind(objects, "Service")}
    assert [p["targetPort"] for p in services["rt-realtime"]["ports"]] == ["ws"]
    assert services["rt-realtime-internal"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in services["rt-realtime-internal"]["ports"]] == ["api"]
    [policy] = by_kind(objects, "NetworkPolicy")
    rules = policy["spec"]["ingress"]
    open_ports = [p["port"] for r in rules if "from" not in r for p in r["ports"]]
    assert open_ports == ["ws"]
    assert [r["from"] for r in rules if "from" in r] == [[{"podSelector": {}}]]


def test_the_deployment_probes_health_and_drains_within_its_grace_period() -> None:
    [deployment] = by_kind(render(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pause + 10 + 10
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"ws": 8765,
                                                                          "api": 8080}
    assert deployment["spec"]["replicas"] == 3
    assert pod["automountServiceAccountToken"] is False


def test_settings_come_from_the_configmap_and_the_secret_and_exist() -> None:
    objects = render({"secrets": SECRETS, "identity": {"jwksUrl": "https://id.example/jwks",
                                                       "issuer": "https://id.example/",
                                                       "audience": "app"}})
    names = {s.env for s in SETTINGS}
    [config] = by_kind(objects, "ConfigMap")
    secret = next(s for s in by_kind(objects, "Secret") if s["metadata"]["name"] == "rt-realtime")
    assert set(config["data"]) | set(secret["stringData"]) <= names
    assert config["data"]["REALTIME_JWT_JWKS_URL"] == "https://id.example/jwks"
    assert set(secret["stringData"]) == {"REALTIME_JWT_SECRET", "REALTIME_API_KEY",
                                         "REALTIME_DATABASE_URL", "REALTIME_REDIS_URL"}


def test_the_migration_runs_as_a_hook_before_install_and_upgrade() -> None:
    objects = render()
    [job] = by_kind(objects, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    [hook_secret] = [s for s in by_kind(objects, "Secret")
                     if s["metadata"]["name"] == "rt-realtime-migrate"]
    annotations = hook_secret["metadata"]["annotations"]
    assert int(annotations["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_an_existing_secret_is_used_instead_of_creating_one() -> None:
    objects = render({"secrets": {"existingSecret": "mine"}})
    assert by_kind(objects, "Secret") == []
    [deployment] = by_kind(objects, "Deployment")
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "mine"}} in env_from
    [job] = by_kind(objects, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "mine"}}]


def test_autoscaling_scales_on_connections_per_pod() -> None:
    objects = render({"secrets": SECRETS, "autoscaling": {"enabled": True,
                                                          "connectionsPerPod": 8000}})
    [hpa] = by_kind(objects, "HorizontalPodAutoscaler")
    [metric] = hpa["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == "realtime_node_num_clients"
    assert metric["pods"]["target"]["averageValue"] == "8000"
    [deployment] = by_kind(objects, "Deployment")
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it


@pytest.mark.parametrize(("values", "missing"), [
    ({}, "secrets.jwtSecret, identity.jwksUrl or identity.firebaseProject"),
    ({"secrets": {**SECRETS, "apiKey": ""}}, "secrets.apiKey is required"),
    ({"secrets": {**SECRETS, "databaseUrl": ""}}, "secrets.databaseUrl is required"),
])
def test_a_release_without_its_secrets_is_refused_naming_them(values: dict[str, Any],
                                                             missing: str) -> None:
    with pytest.raises(Exception, match=missing):
        render(values)


def test_no_raw_manifest_is_left_beside_the_chart() -> None:
    assert not (ROOT / "docs" / "deploy" / "k8s").exists()


@pytest.mark.parametrize("values", [
    {"replicaCount": "three"},
    {"image": {"tag": "latest"}},
    {"servce": {"type": "LoadBalancer"}},
    {"service": {"type": "ExternalName"}},
    {"config": {"LOG_LEVEL": "debug"}},
    {"secrets": {**SECRETS, "databaseUrl": "mysql://db/realtime"}},
])
def test_values_the_schema_refuses_never_render(values: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"values don't meet the specifications of the schema"):
        render({"secrets": SECRETS, **values})
