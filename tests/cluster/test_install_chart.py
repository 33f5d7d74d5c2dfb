"""The Helm chart (deploy/helm/mooring) through a real helm (built from helm.sh/helm/v3,
pinned in tools/helm/helm): it lints, renders exactly what `mooring install render` prints
for the same values, passes Mooring's own guardrails, and the local API server accepts
every object (server-side dry-run), the ServiceMonitor against the Prometheus Operator's
real CRD."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.core.render.install import SERVICE_MONITOR
from mooring.devcluster.binaries import HELM, ensure_built
from mooring.kube.client import Kube
from mooring.services.install import wait_established

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mooring"
SERVICE_MONITOR_CRD = (
    ROOT / "tests/fixtures/prometheus-operator/monitoring.coreos.com_servicemonitors.yaml"
)
KUBE_VERSION = "1.37.0"

# Values a platform team may well write: each case renders the same through both doors.
CASES: dict[str, dict[str, Any]] = {
    "the defaults": {},
    "a namespace of its own and a pinned digest": {
        "createNamespace": True,
        "image": {
            "repository": "registry.example.com/platform/mooring",
            "digest": "sha256:" + "b" * 64,
        },
    },
    "one replica, more memory, scheduling and annotations": {
        "replicas": 1,
        "resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "512Mi"}},
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}
        ],
        "affinity": {},
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/scrape": "true"},
        "imagePullSecrets": [{"name": "registry"}],
        "logLevel": "debug",
    },
    "a ServiceMonitor with labels, other ports and a PlatformConfig": {
        "metrics": {
            "port": 9090,
            "serviceMonitor": {"interval": "15s", "labels": {"release": "prom"}},
        },
        "healthPort": 9091,
        "leaderElection": {"leaseDurationSeconds": 30, "renewDeadlineSeconds": 20},
        "platformConfig": yaml.safe_load((ROOT / "tests/cluster/platform.yaml").read_text())[
            "spec"
        ],
    },
}


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_built([HELM], say=print)["helm"]


def run(command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def helm_template(helm: Path, values: Path, *extra: str) -> list[dict[str, Any]]:
    done = run(
        [
            str(helm),
            "template",
            "mooring",
            str(CHART),
            "--namespace",
            "mooring-system",
            "--include-crds",
            "--kube-version",
            KUBE_VERSION,
            "-f",
            str(values),
            *extra,
        ]
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def mooring_render(values: Path, *extra: str) -> list[dict[str, Any]]:
    done = run(
        [sys.executable, "-m", "mooring.cli", "install", "render", "-f", str(values), *extra]
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def identities(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects
    }


def test_the_chart_passes_helm_lint(helm: Path) -> None:
    done = run([str(helm), "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_helm_template_equals_mooring_install_render_for_the_same_values(
    helm: Path, tmp_path: Path, case: str
) -> None:
    values = tmp_path / "values.yaml"
    # The chart's one different default (helm install --create-namespace makes it), spelt
    # out so that both doors read the same values.
    values.write_text(yaml.safe_dump({"createNamespace": False, **CASES[case]}))
    # As Argo CD does, the cluster's kinds are passed to helm (.Capabilities.APIVersions).
    charted = identities(helm_template(helm, values, "--api-versions", SERVICE_MONITOR))
    rendered = identities(mooring_render(values, "--api-versions", SERVICE_MONITOR))
    assert sorted(charted) == sorted(rendered)
    for key, obj in rendered.items():
        assert charted[key] == obj, key


def test_helm_refuses_a_misspelt_value_as_mooring_does(helm: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replica: 3\n")
    done = run(
        [str(helm), "template", "m", str(CHART), "--kube-version", KUBE_VERSION, "-f", str(values)]
    )
    assert done.returncode != 0
    assert "additional properties 'replica' not allowed" in done.stderr
    rendered = run([sys.executable, "-m", "mooring.cli", "install", "render", "-f", str(values)])
    assert rendered.returncode == 2
    assert f"{values}:1: replica: unknown field 'replica'" in rendered.stderr


def test_the_chart_refuses_kubernetes_older_than_1_30(helm: Path) -> None:
    done = run([str(helm), "template", "m", str(CHART), "--kube-version", "1.29.0"])
    assert done.returncode != 0
    assert "kubeVersion: >=1.30.0-0" in done.stderr


def test_the_rendered_chart_passes_mooring_check(helm: Path, tmp_path: Path) -> None:
    """`helm template | mooring check -`: the chart's PlatformConfig (the example platform's,
    which allows only some registries and judges in enforce mode) judges the chart itself."""
    example = yaml.safe_load((ROOT / "examples/platform/platform.yaml").read_text())
    assert example["spec"]["guardrails"]["allowedRegistries"], "the registry rule is exercised"
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"platformConfig": example["spec"]}))
    objects = helm_template(helm, values)
    checked = run(
        [sys.executable, "-m", "mooring.cli", "check", "-"],
        stdin=yaml.safe_dump_all(objects, sort_keys=False),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 object(s) judged" in checked.stderr  # the Deployment and the Service
    assert "0 error(s), 0 warning(s)" in checked.stderr


async def test_the_api_server_accepts_every_object_of_the_chart(
    helm: Path, kube: Kube, platform: dict[str, Any], tmp_path: Path
) -> None:
    """Server-side dry-run: schemas, CRD validation (the PlatformConfig's CEL rules, the
    ServiceMonitor's real schema), RBAC objects. The CRDs themselves are applied (the
    session installed Mooring's; the ServiceMonitor CRD is added)."""
    await kube.apply(yaml.safe_load(SERVICE_MONITOR_CRD.read_text()))
    await wait_established(kube, "servicemonitors.monitoring.coreos.com")
    kube.forget_discovery()
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(CASES["a ServiceMonitor with labels, other ports and a PlatformConfig"])
    )
    objects = helm_template(helm, values, "--api-versions", SERVICE_MONITOR)
    assert {"ServiceMonitor", "PlatformConfig", "Deployment"} <= {o["kind"] for o in objects}
    for obj in objects:
        # As Helm would write them (its own field manager); a dry-run changes nothing.
        await kube.apply(obj, dry_run=True, field_manager="helm")
