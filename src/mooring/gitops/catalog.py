"""The platform's addons: which Helm chart at which pinned version, in which sync wave, for
which profile. Pure data.

Waves order an app of apps (Argo CD applies a wave and waits for it to be Healthy before the
next): the network (CNI) first, then CRD-bearing operators, then everything that uses their
CRDs; Mooring comes after them (wave 0), and the PlatformConfig and the tenants after Mooring.
Versions are pinned here and written into the repository by `mooring init`; the platform team
upgrades an addon by changing `targetRevision` in its own repository (docs/gitops.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Profile = Literal["generic", "eks", "openshift", "local"]
PROFILES: tuple[Profile, ...] = ("generic", "eks", "openshift", "local")

# Sync waves (argocd.argoproj.io/sync-wave) of the per-cluster app of apps.
WAVE_NETWORK = -30
WAVE_OPERATORS = -20
WAVE_ADDONS = -10
WAVE_MOORING = 0
WAVE_CONFIG = 10


@dataclass(frozen=True)
class Addon:
    """One third-party Helm chart, as an Argo CD Application of the platform project."""

    name: str
    repo_url: str
    chart: str
    version: str
    namespace: str
    wave: int
    profiles: tuple[Profile, ...]
    description: str
    values: dict[str, Any] = field(default_factory=dict)
    # Per profile, merged over `values` (e.g. the cloud provider of external-dns).
    profile_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per environment, written as kustomize patches in environments/<env>/.
    environment_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    oci: bool = False

    def values_for(self, profile: Profile) -> dict[str, Any]:
        return _merge(self.values, self.profile_values.get(profile, {}))


CLOUD: tuple[Profile, ...] = ("generic", "eks", "openshift")

ADDONS: tuple[Addon, ...] = (
    Addon(
        "cilium",
        "https://helm.cilium.io",
        "cilium",
        "1.18.1",
        "kube-system",
        WAVE_NETWORK,
        ("generic", "eks"),
        "CNI and network policies with L7 and FQDN rules (Mooring renders CiliumNetworkPolicies "
        "when it finds Cilium)",
        values={"hubble": {"relay": {"enabled": True}}, "operator": {"replicas": 1}},
        profile_values={"eks": {"eni": {"enabled": True}, "ipam": {"mode": "eni"}}},
        environment_values={"prod": {"operator": {"replicas": 2}}},
    ),
    Addon(
        "cert-manager",
        "https://charts.jetstack.io",
        "cert-manager",
        "v1.18.2",
        "cert-manager",
        WAVE_OPERATORS,
        ("generic", "eks"),
        "certificates for ingresses and webhooks",
        values={"crds": {"enabled": True}},
        environment_values={"prod": {"replicaCount": 2}},
    ),
    Addon(
        "karpenter",
        "public.ecr.aws/karpenter",
        "karpenter",
        "1.6.2",
        "kube-system",
        WAVE_OPERATORS,
        ("eks",),
        "node autoscaling on EKS",
        values={"settings": {"clusterName": "CHANGE-ME"}},
        oci=True,
    ),
    Addon(
        "kube-prometheus-stack",
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        "77.0.0",
        "monitoring",
        WAVE_OPERATORS,
        CLOUD,
        "Prometheus, Alertmanager and Grafana; the operator's ServiceMonitor CRDs",
        values={"grafana": {"enabled": True}, "alertmanager": {"enabled": True}},
        profile_values={
            # OpenShift ships its own cluster monitoring; keep the user-workload stack only.
            "openshift": {
                "grafana": {"enabled": False},
                "nodeExporter": {"enabled": False},
                "kubeStateMetrics": {"enabled": False},
            }
        },
        environment_values={
            "prod": {"prometheus": {"prometheusSpec": {"retention": "30d", "replicas": 2}}},
            "dev": {"prometheus": {"prometheusSpec": {"retention": "3d"}}},
        },
    ),
    Addon(
        "keda",
        "https://kedacore.github.io/charts",
        "keda",
        "2.17.2",
        "keda",
        WAVE_OPERATORS,
        CLOUD,
        "event-driven autoscaling for the teams' workloads",
    ),
    Addon(
        "ingress-nginx",
        "https://kubernetes.github.io/ingress-nginx",
        "ingress-nginx",
        "4.13.1",
        "ingress-nginx",
        WAVE_ADDONS,
        ("generic", "eks"),
        "the ingress controller tenants' network allowances name",
        values={"controller": {"replicaCount": 1, "metrics": {"enabled": True}}},
        environment_values={"prod": {"controller": {"replicaCount": 3}}},
    ),
    Addon(
        "external-dns",
        "https://kubernetes-sigs.github.io/external-dns",
        "external-dns",
        "1.18.0",
        "external-dns",
        WAVE_ADDONS,
        CLOUD,
        "DNS records for ingresses",
        values={"policy": "upsert-only", "txtOwnerId": "mooring"},
        profile_values={"eks": {"provider": {"name": "aws"}}},
    ),
    Addon(
        "opentelemetry-collector",
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "opentelemetry-collector",
        "0.129.0",
        "opentelemetry",
        WAVE_ADDONS,
        CLOUD,
        "traces and logs from the teams' workloads",
        values={
            "mode": "daemonset",
            "image": {"repository": "otel/opentelemetry-collector-k8s"},
        },
    ),
    Addon(
        "velero",
        "https://vmware-tanzu.github.io/helm-charts",
        "velero",
        "10.0.10",
        "velero",
        WAVE_ADDONS,
        CLOUD,
        "backups of the teams' namespaces and volumes",
        values={"snapshotsEnabled": True},
        environment_values={"prod": {"schedules": {"daily": {"schedule": "0 2 * * *"}}}},
    ),
)


def addons_for(profile: Profile) -> list[Addon]:
    """The addons a profile installs, in wave order (the `local` profile has none: third-party
    charts cannot be fetched on a machine without the internet)."""
    chosen = [addon for addon in ADDONS if profile in addon.profiles]
    return sorted(chosen, key=lambda addon: (addon.wave, addon.name))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
