"""The installation of Mooring on a real cluster: values, the rendered objects, the chart
written from the same renderer, the supported Kubernetes versions. Pure; the chart's
rendering by a real helm is in tests/cluster/test_install_chart.py."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mooring.api.install import InstallValues, load_values, merge
from mooring.cli.main import cli
from mooring.core import lease, versions
from mooring.core.render import chart
from mooring.core.render.install import SERVICE_MONITOR, manifests
from mooring.kube import incluster
from mooring.services.check import check
from mooring.services.install import ValuesError, parse_set, read_values

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mooring"


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def operator_deployment(values: InstallValues | None = None) -> dict[str, Any]:
    [deployment] = by_kind(manifests(values or InstallValues()), "Deployment")
    return deployment


# -- values, merged as Helm merges them --------------------------------------------------------


def test_values_merge_mappings_key_by_key_replace_lists_and_null_removes() -> None:
    base = {"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1}
    assert merge(base, {"a": {"c": 3}, "l": [9], "x": None}) == {"a": {"b": 1, "c": 3}, "l": [9]}
    assert base == {"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1}, "merge changes nothing given"


def test_a_values_file_overrides_one_limit_and_keeps_the_other_defaults() -> None:
    values = load_values({"resources": {"limits": {"memory": "1Gi"}}})
    assert values.resources.to_json() == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("replicas=3", {"replicas": 3}),
        ("image.repository=reg.example/m", {"image": {"repository": "reg.example/m"}}),
        (
            "metrics.serviceMonitor.enabled=false",
            {"metrics": {"serviceMonitor": {"enabled": False}}},
        ),
        ("image.tag=", {"image": {"tag": ""}}),
    ],
)
def test_set_reads_a_dotted_path_and_a_yaml_value(assignment: str, expected: Any) -> None:
    assert parse_set(assignment) == expected


def test_a_malformed_set_says_how_to_write_one() -> None:
    with pytest.raises(ValuesError, match=r"KEY\.PATH=VALUE"):
        parse_set("replicas")


def test_a_bad_value_names_the_file_line_and_field(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("image:\n  repository: reg.example/m\nreplicas: 0\nreplica: 3\n")
    with pytest.raises(ValuesError) as raised:
        read_values([str(values)])
    message = str(raised.value)
    assert f"{values}:3: replicas: Input should be greater than or equal to 1" in message
    assert f"{values}:4: replica: unknown field 'replica'" in message


def test_a_platform_config_in_the_values_is_checked_against_the_model() -> None:
    with pytest.raises(ValueError, match="tiers"):
        load_values({"platformConfig": {"tiers": "big"}})


def test_the_renew_deadline_must_end_before_the_lease() -> None:
    with pytest.raises(ValueError, match="renewDeadlineSeconds must be less"):
        load_values({"leaderElection": {"leaseDurationSeconds": 5, "renewDeadlineSeconds": 5}})


# -- what an installation is made of ------------------------------------------------------------


def test_an_installation_has_every_part_a_cluster_needs() -> None:
    kinds = sorted({o["kind"] for o in manifests(InstallValues())})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]


def test_the_operator_runs_two_replicas_that_elect_a_leader_with_probes() -> None:
    deployment = operator_deployment()
    assert deployment["spec"]["replicas"] == 2
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "--leader-election" in container["args"]
    assert "--in-cluster" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"]
    )


def test_metrics_listen_on_every_address_behind_a_service() -> None:
    objects = manifests(InstallValues())
    [container] = operator_deployment()["spec"]["template"]["spec"]["containers"]
    assert "--metrics-address=0.0.0.0" in container["args"]
    [service] = by_kind(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == operator_deployment()["spec"]["selector"]["matchLabels"]


def test_the_operator_pod_meets_the_restricted_pod_security_profile() -> None:
    pod = operator_deployment()["spec"]["template"]["spec"]
    [container] = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [namespace] = by_kind(manifests(InstallValues()), "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_installation_passes_mooring_s_own_guardrails(tmp_path: Path) -> None:
    rendered = tmp_path / "install.yaml"
    rendered.write_text(yaml.safe_dump_all(manifests(InstallValues()), sort_keys=False))
    outcome = check(
        [str(rendered)],
        now=datetime(2026, 1, 1, tzinfo=UTC),
        platform_paths=[str(ROOT / "examples/platform/platform.yaml")],
    )
    assert not outcome.errors
    assert outcome.judged >= 1, "the Deployment was judged"
    assert not outcome.findings, [f.message for f in outcome.findings]


def test_the_operator_may_only_touch_its_own_lease() -> None:
    [role] = by_kind(manifests(InstallValues()), "Role")
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "update", "patch"],
            "resourceNames": ["mooring-operator"],
        },
    ]


def test_one_replica_gets_no_disruption_budget_that_would_block_a_drain() -> None:
    assert by_kind(manifests(InstallValues()), "PodDisruptionBudget")
    assert not by_kind(manifests(load_values({"replicas": 1})), "PodDisruptionBudget")


def test_a_service_monitor_only_where_the_cluster_serves_that_kind() -> None:
    assert not by_kind(manifests(InstallValues()), "ServiceMonitor")
    with_kind = manifests(InstallValues(), api_versions=[SERVICE_MONITOR])
    [monitor] = by_kind(with_kind, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    disabled = load_values({"metrics": {"serviceMonitor": {"enabled": False}}})
    assert not by_kind(manifests(disabled, api_versions=[SERVICE_MONITOR]), "ServiceMonitor")


def test_the_namespace_and_the_image_come_from_the_values() -> None:
    values = load_values({"image": {"repository": "reg.example/mooring", "tag": "9.9.9"}})
    objects = manifests(values, namespace="platform")
    [container] = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "reg.example/mooring:9.9.9"
    assert {o["metadata"].get("namespace") for o in objects} == {None, "platform"}
    digest = "sha256:" + "a" * 64
    pinned = load_values({"image": {"repository": "r.example/m", "digest": digest}})
    [container] = operator_deployment(pinned)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"r.example/m@{digest}"


def test_a_platform_config_is_installed_as_written_and_kept_on_uninstall() -> None:
    spec = {"tiers": {"small": {"quota": {"cpu": "2", "memory": "4Gi", "pods": 10}}}}
    [config] = by_kind(manifests(load_values({"platformConfig": spec})), "PlatformConfig")
    assert config["spec"] == spec
    assert config["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_the_tenant_roles_survive_an_uninstall_so_members_keep_their_access() -> None:
    roles = [
        o
        for o in by_kind(manifests(InstallValues()), "ClusterRole")
        if o["metadata"]["name"].startswith("mooring-tenant-")
    ]
    assert len(roles) == 3
    assert all(r["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for r in roles)


def test_install_render_reads_values_and_set_like_helm(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replicas: 3\n")
    result = CliRunner().invoke(
        cli, ["install", "render", "-f", str(values), "--set", "image.tag=1.2.3", "-n", "ops"]
    )
    assert result.exit_code == 0, result.output
    [deployment] = by_kind(list(yaml.safe_load_all(result.stdout)), "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["namespace"] == "ops"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.2.3")


def test_install_render_refuses_bad_values_with_exit_2(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replicas: none\n")
    result = CliRunner().invoke(cli, ["install", "render", "-f", str(values)])
    assert result.exit_code == 2
    assert f"{values}:1: replicas" in result.stderr


# -- the chart ----------------------------------------------------------------------------------


def test_the_committed_chart_is_what_the_renderer_writes() -> None:
    """deploy/helm/mooring is generated; regenerate it when this fails."""
    expected = chart.files()
    committed = {str(p.relative_to(CHART)): p.read_text() for p in CHART.rglob("*") if p.is_file()}
    assert committed == expected, "run: .venv/bin/mooring install chart deploy/helm/mooring"


def test_the_chart_creates_no_namespace_by_default_as_helm_install_does() -> None:
    values = yaml.safe_load(chart.values_yaml())
    assert values["createNamespace"] is False
    assert {k: v for k, v in values.items() if k != "createNamespace"} == {
        k: v
        for k, v in InstallValues().model_dump(mode="json", by_alias=True).items()
        if k != "createNamespace"
    }


def test_the_chart_needs_kubernetes_1_30() -> None:
    assert yaml.safe_load(chart.chart_yaml())["kubeVersion"] == ">=1.30.0-0"


# -- supported Kubernetes versions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "supported", "says"),
    [
        ({"major": "1", "minor": "29", "gitVersion": "v1.29.4"}, False, "too old"),
        ({"major": "1", "minor": "30+", "gitVersion": "v1.30.2-eks-1"}, True, ""),
        ({"major": "1", "minor": "37", "gitVersion": "v1.37.2"}, True, ""),
        ({"major": "1", "minor": "40", "gitVersion": "v1.40.0"}, True, "newer than"),
        ({"gitVersion": "v1.28.0"}, False, "1.30 or newer"),
        ({}, True, "cannot read"),
    ],
    ids=[
        "refuses 1.29",
        "accepts a managed 1.30+",
        "accepts 1.37",
        "warns about 1.40",
        "reads gitVersion",
        "goes on when unreadable",
    ],
)
def test_kubernetes_versions_are_judged(
    info: dict[str, object], supported: bool, says: str
) -> None:
    verdict = versions.judge(info)
    assert verdict.supported is supported
    assert says in verdict.message
    if says == "":
        assert verdict.message == ""


# -- leader election decisions ------------------------------------------------------------------


def spec(holder: str | None, renewed: str = "t1", duration: int = 15) -> dict[str, Any]:
    result: dict[str, Any] = {"renewTime": renewed, "leaseDurationSeconds": duration}
    if holder:
        result["holderIdentity"] = holder
    return result


def test_a_standby_waits_for_a_whole_lease_duration_on_its_own_clock() -> None:
    seen = lease.observe(None, spec("a"), now=100.0)
    assert not lease.may_take(spec("a"), seen, "b", now=114.9)
    assert lease.may_take(spec("a"), lease.observe(seen, spec("a"), 115.0), "b", now=115.0)


def test_a_renewal_restarts_the_standby_s_wait() -> None:
    seen = lease.observe(None, spec("a", "t1"), now=100.0)
    renewed = lease.observe(seen, spec("a", "t2"), now=110.0)
    assert not lease.may_take(spec("a", "t2"), renewed, "b", now=120.0)


def test_a_released_lease_is_free_at_once_and_the_holder_may_renew() -> None:
    seen = lease.observe(None, spec(None), now=0.0)
    assert lease.may_take(spec(None), seen, "b", now=0.0)
    assert lease.may_take(spec("a"), lease.observe(None, spec("a"), 0.0), "a", now=0.0)


def test_taking_over_counts_a_transition_and_renewing_does_not() -> None:
    at = datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=UTC)
    taken = lease.claim(spec("a") | {"leaseTransitions": 2}, "b", at, 15)
    assert taken["holderIdentity"] == "b"
    assert taken["leaseTransitions"] == 3
    assert taken["acquireTime"] == taken["renewTime"] == "2026-01-01T12:00:00.000005Z"
    assert lease.claim(taken, "b", at, 15)["leaseTransitions"] == 3
    released = lease.release(taken, at)
    assert "holderIdentity" not in released
    assert released["leaseDurationSeconds"] == 1


# -- the operator's start ----------------------------------------------------------------------


def test_an_operator_told_it_is_in_a_pod_when_it_is_not_says_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    done = subprocess.run(
        [sys.executable, "-m", "mooring.cli", "operator", "--in-cluster", "--metrics-port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set" in done.stderr


def test_leader_election_timings_must_nest() -> None:
    result = CliRunner().invoke(
        cli, ["operator", "--leader-election", "--lease-duration", "5", "--renew-deadline", "6"]
    )
    assert result.exit_code == 2
    assert "--retry-period < --renew-deadline < --lease-duration" in result.stderr


def test_the_in_cluster_login_reads_the_mounted_folder(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("abc\n")
    (tmp_path / "ca.crt").write_text("pem")
    (tmp_path / "namespace").write_text("mooring-system")
    env = {
        "KUBERNETES_SERVICE_HOST": "fd00::1",
        "KUBERNETES_SERVICE_PORT": "443",
        incluster.DIR_VARIABLE: str(tmp_path),
    }
    login = incluster.load(env)
    assert login.server == "https://[fd00::1]:443"
    assert login.token() == "abc"
    assert login.namespace == "mooring-system"
    (tmp_path / "token").unlink()
    with pytest.raises(incluster.InClusterError, match="no token in"):
        incluster.load(env)
