"""Pure: the values Mooring is installed with, one model for both front doors.

`mooring install render --values FILE` and the Helm chart (`deploy/helm/mooring`, whose
values.yaml and values.schema.json are generated from this model) read the same fields,
so one values file gives the same objects either way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mooring.api.base import Model
from mooring.api.platform import PlatformConfigSpec

# No image is published yet: build one (scripts/build-image, docs/install.md), push it to
# your registry and set image.repository. The default names a registry that cannot exist.
PLACEHOLDER_REPOSITORY = "registry.example.com/mooring/mooring"
Quantity = str | int | float


class Image(Model):
    repository: str = Field(
        PLACEHOLDER_REPOSITORY,
        min_length=1,
        description="Where the operator image is pulled from (registry/repository, no tag).",
    )
    tag: str = Field(
        "",
        description="The image tag; empty means the chart's appVersion (Mooring's version).",
    )
    digest: str = Field(
        "",
        pattern=r"^(|sha256:[0-9a-f]{64})$",
        description="An image digest (sha256:...); when set it is used instead of the tag.",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="The container's imagePullPolicy."
    )


class PullSecret(Model):
    name: str = Field(min_length=1, description="A Secret in the operator's namespace.")


class ResourceList(Model):
    cpu: Quantity | None = Field(None, description="CPU, as a Kubernetes quantity (500m, 1).")
    memory: Quantity | None = Field(None, description="Memory, as a quantity (256Mi, 1Gi).")


class Resources(Model):
    requests: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="100m", memory="256Mi"),
        description="What the scheduler reserves for each operator pod.",
    )
    limits: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="1", memory="512Mi"),
        description="The most each operator pod may use (memory beyond it is an OOM kill).",
    )


class ServiceMonitor(Model):
    enabled: bool = Field(
        True,
        description="Render a ServiceMonitor (Prometheus Operator) when the cluster serves "
        "monitoring.coreos.com/v1 ServiceMonitor; nothing otherwise.",
    )
    interval: str = Field("30s", pattern=r"^[0-9]+(ms|s|m|h)$", description="Scrape interval.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels, for a Prometheus whose serviceMonitorSelector needs them.",
    )


class Metrics(Model):
    port: int = Field(8080, ge=1, le=65535, description="Port of /metrics in the pod.")
    service_monitor: ServiceMonitor = Field(
        default_factory=ServiceMonitor, description="Prometheus Operator scraping."
    )


class LeaderElection(Model):
    lease_duration_seconds: int = Field(
        15,
        ge=2,
        description="How long a leader's Lease holds without renewal: the longest a standby "
        "waits after the leader dies.",
    )
    renew_deadline_seconds: int = Field(
        10,
        ge=1,
        description="A leader that could not renew its Lease for this long stops (exits) so "
        "that two operators never reconcile at once; less than leaseDurationSeconds.",
    )
    retry_period_seconds: int = Field(
        2, ge=1, description="How often the leader renews and standbys try to acquire."
    )


class InstallValues(Model):
    """Everything an installation may choose; the defaults are a production setup."""

    create_namespace: bool = Field(
        True,
        description="Render the Namespace (with Pod Security 'restricted' labels). The Helm "
        "chart defaults to false: `helm install --create-namespace` makes it.",
    )
    image: Image = Field(default_factory=Image, description="The operator image.")
    image_pull_secrets: list[PullSecret] = Field(
        default_factory=list, description="Secrets to pull the image with ([{name: ...}])."
    )
    replicas: int = Field(
        2,
        ge=1,
        description="Operator pods. One leads (holds the Lease) and reconciles; the others "
        "stand by to take over. A PodDisruptionBudget is rendered when more than one.",
    )
    resources: Resources = Field(
        default_factory=Resources, description="CPU and memory of each operator pod."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The operator's log level."
    )
    health_port: int = Field(
        8081, ge=1, le=65535, description="Port of /healthz (liveness) and /readyz (readiness)."
    )
    metrics: Metrics = Field(default_factory=Metrics, description="Prometheus metrics.")
    leader_election: LeaderElection = Field(
        default_factory=LeaderElection, description="The Lease the operator pods elect with."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the operator pods must run on."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Tolerations of the operator pods (as in a pod spec)."
    )
    affinity: dict[str, Any] = Field(
        default_factory=lambda: {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {
                                "matchLabels": {
                                    "app.kubernetes.io/name": "mooring",
                                    "app.kubernetes.io/component": "operator",
                                }
                            },
                        },
                    }
                ]
            }
        },
        description="Affinity of the operator pods (default: spread over nodes).",
    )
    priority_class_name: str = Field(
        "", description="A PriorityClass for the operator pods (empty: none)."
    )
    pod_annotations: dict[str, str] = Field(
        default_factory=dict, description="Extra annotations on the operator pods."
    )
    platform_config: dict[str, Any] | None = Field(
        None,
        description="The spec of the PlatformConfig `default` to install with Mooring "
        "(tiers, registries, policies); none when left out (apply it from Git instead).",
    )

    @field_validator("platform_config")
    @classmethod
    def _a_valid_platform(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Kept as written (Helm passes it on unchanged), checked against the real model.
        if value is not None:
            PlatformConfigSpec.model_validate(value)
        return value

    @field_validator("leader_election")
    @classmethod
    def _renew_before_the_lease_ends(cls, value: LeaderElection) -> LeaderElection:
        if value.renew_deadline_seconds >= value.lease_duration_seconds:
            raise ValueError(
                "renewDeadlineSeconds must be less than leaseDurationSeconds "
                f"({value.renew_deadline_seconds} >= {value.lease_duration_seconds})"
            )
        if value.retry_period_seconds >= value.renew_deadline_seconds:
            raise ValueError("retryPeriodSeconds must be less than renewDeadlineSeconds")
        return value


def image_reference(image: Image, version: str) -> str:
    """repository@digest, else repository:tag (the tag defaulting to Mooring's version)."""
    if image.digest:
        return f"{image.repository}@{image.digest}"
    return f"{image.repository}:{image.tag or version}"


def defaults() -> dict[str, Any]:
    """The default values, as a values file would spell them (values.yaml)."""
    return InstallValues().model_dump(mode="json", by_alias=True)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: mappings merge key by key, anything else is replaced, and a
    null removes the key. Pure: neither argument changes."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_values(*layers: dict[str, Any]) -> InstallValues:
    """Values files (and --set) over the defaults, merged as Helm merges them."""
    values = defaults()
    for layer in layers:
        values = merge(values, layer)
    return InstallValues.model_validate(values)
