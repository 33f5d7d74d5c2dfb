"""Pure: what a rule looks at, and the shared CEL variables that give it one view of it.

A target lists the kinds a rule applies to (offline: by apiVersion and kind; at admission:
the policy's resourceRules), the named CEL variables its expressions read (exactly the
ValidatingAdmissionPolicy's `spec.variables`), and when an UPDATE is judged again.

- PODS: Pods and every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
  ReplicationController, Job, CronJob). `variables.spec` is the pod spec wherever it sits,
  `variables.at` its field path, so one rule expression serves every kind.
- SERVICES: Services.
- INGRESSES: Ingresses (networking.k8s.io/v1).

Every target judges CREATE and UPDATE: an object that was compliant when created must not
become non-compliant by a later patch (a Pod's image is mutable). An UPDATE is judged
again only when something a rule reads changed (`match_condition`); the verdict is the
one the offline engine gives for the updated object.
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
        # A Pod's images, tolerations and a few other fields change by UPDATE; ephemeral
        # containers are added through a subresource, resources change through another
        # (in-place resize). pods/status and pods/binding are not judged.
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["pods"],
        },
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["UPDATE"],
            "resources": ["pods/ephemeralcontainers", "pods/resize"],
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
    # its labels: such updates (often by controllers) are not judged again. A Pod is judged
    # again when its spec changes (an image patched, ephemeral containers added, a resize).
    match_condition=(
        "request.operation != 'UPDATE' || "
        "object.metadata.?labels != oldObject.metadata.?labels || "
        "(object.kind == 'Pod' ? object.?spec != oldObject.?spec : "
        "(object.?spec.?template != oldObject.?spec.?template || "
        "object.?spec.?jobTemplate != oldObject.?spec.?jobTemplate))"
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
    # Status (load balancer addresses) is a subresource the rules do not read.
    match_condition=(
        "request.operation != 'UPDATE' || object.?spec != oldObject.?spec || "
        "object.metadata.?labels != oldObject.metadata.?labels"
    ),
)

INGRESSES = Target(
    name="ingresses",
    kinds=frozenset({("networking.k8s.io/v1", "Ingress")}),
    resource_rules=(
        {
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["ingresses"],
        },
    ),
    variables=(("name", NAME), ("templateLabels", "{}")),
    # Annotations configure the ingress controller (snippets): judged like the spec.
    match_condition=(
        "request.operation != 'UPDATE' || object.?spec != oldObject.?spec || "
        "object.metadata.?labels != oldObject.metadata.?labels || "
        "object.metadata.?annotations != oldObject.metadata.?annotations"
    ),
)

TARGETS = (PODS, SERVICES, INGRESSES)
