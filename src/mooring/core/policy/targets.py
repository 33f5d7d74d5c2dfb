"""Pure: what a rule looks at, and the shared CEL variables that give it one view of it.

A target lists the kinds a rule applies to (offline: by apiVersion and kind; at admission:
the policy's resourceRules), the named CEL variables its expressions read (exactly the
ValidatingAdmissionPolicy's `spec.variables`), and when an UPDATE is judged again.

- PODS: Pods and every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
  ReplicationController, Job, CronJob). `variables.spec` is the pod spec wherever it sits,
  `variables.at` its field path, so one rule expression serves every kind.
- SERVICES: Services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The name the workload goes by (a generated name is already set when admission runs).
NAME = "object.metadata.?name.orValue(object.metadata.?generateName.orValue(''))"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per target
class Target:
    name: str
    kinds: frozenset[tuple[str, str]]  # (apiVersion, kind) judged offline and in audits
    resource_rules: tuple[dict[str, Any], ...]
    variables: tuple[tuple[str, str], ...]  # (name, CEL), in order; later ones may use earlier
    # An UPDATE is judged again only when what the rules read may have changed.
    match_condition: str


def _by_kind(pod: str, cronjob: str, template: str) -> str:
    return f"object.kind == 'Pod' ? {pod} : (object.kind == 'CronJob' ? {cronjob} : {template})"


POD_TEMPLATE_KINDS = {
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("v1", "ReplicationController"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
}

PODS = Target(
    name="pods",
    kinds=frozenset({("v1", "Pod"), *POD_TEMPLATE_KINDS}),
    resource_rules=(
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
        },
        # Ephemeral containers are added to a running pod through this subresource.
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["UPDATE"],
            "resources": ["pods/ephemeralcontainers"],
        },
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["replicationcontrollers"],
        },
        {
            "apiGroups": ["apps"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
        },
        {
            "apiGroups": ["batch"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["jobs", "cronjobs"],
        },
    ),
    variables=(
        ("name", NAME),
        (
            "spec",
            _by_kind(
                "object.?spec.orValue({})",
                "object.?spec.?jobTemplate.?spec.?template.?spec.orValue({})",
                "object.?spec.?template.?spec.orValue({})",
            ),
        ),
        ("at", _by_kind("'spec'", "'spec.jobTemplate.spec.template.spec'", "'spec.template.spec'")),
        (
            "templateLabels",
            _by_kind(
                "{}",
                "object.?spec.?jobTemplate.?spec.?template.?metadata.?labels.orValue({})",
                "object.?spec.?template.?metadata.?labels.orValue({})",
            ),
        ),
        (
            "templateAt",
            _by_kind(
                "''",
                "'spec.jobTemplate.spec.template.metadata.labels'",
                "'spec.template.metadata.labels'",
            ),
        ),
    ),
    # Scaling a ReplicaSet or annotating a Deployment changes neither its pod template nor
    # its labels: such updates (often by controllers) are not judged again.
    match_condition=(
        "request.operation != 'UPDATE' || "
        "request.?subResource.orValue('') == 'ephemeralcontainers' || "
        "object.?spec.?template != oldObject.?spec.?template || "
        "object.?spec.?jobTemplate != oldObject.?spec.?jobTemplate || "
        "object.metadata.?labels != oldObject.metadata.?labels"
    ),
)

SERVICES = Target(
    name="services",
    kinds=frozenset({("v1", "Service")}),
    resource_rules=(
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["services"],
        },
    ),
    variables=(("name", NAME), ("templateLabels", "{}")),
    match_condition=(
        "request.operation != 'UPDATE' || object.?spec.?type != oldObject.?spec.?type || "
        "object.metadata.?labels != oldObject.metadata.?labels"
    ),
)

TARGETS = (PODS, SERVICES)
