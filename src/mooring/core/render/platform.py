"""Pure: the platform-wide objects Mooring is installed with.

- The tenant ClusterRoles (owner, developer, viewer), bound per namespace by rbac.py.
  Derived from each other: DEVELOPER = VIEWER + writes, OWNER = DEVELOPER + more.
  None of them can touch quotas, limit ranges, network policies, role bindings or
  namespaces, nor escalate or bind: those come from Git through Mooring.
- The operator's own ServiceAccount and least-privilege ClusterRole (no wildcards).
- The CRDs, generated from the models.
- Admission policies: a Database only in a tenant namespace.
"""

from __future__ import annotations

from typing import Any

from mooring.api import names
from mooring.api.crd import crd
from mooring.api.kinds import KINDS
from mooring.core.render.database import admission_policy as database_admission_policy
from mooring.core.render.rbac import cluster_role_name

KubeObject = dict[str, Any]
Rule = dict[str, Any]
READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete"]
SYSTEM_NAMESPACE = "mooring-system"
OPERATOR = "mooring-operator"
PART_OF = {"app.kubernetes.io/part-of": "mooring"}


def rule(
    group: str, resources: list[str], verbs: list[str], names_: list[str] | None = None
) -> Rule:
    result: Rule = {"apiGroups": [group], "resources": resources, "verbs": verbs}
    if names_:
        result["resourceNames"] = names_
    return result


VIEWER: tuple[Rule, ...] = (
    rule(
        "",
        [
            "pods",
            "pods/log",
            "services",
            "endpoints",
            "configmaps",
            "persistentvolumeclaims",
            "events",
            "resourcequotas",
            "limitranges",
            "serviceaccounts",
            "replicationcontrollers",
        ],
        READ,
    ),
    rule("apps", ["deployments", "statefulsets", "daemonsets", "replicasets"], READ),
    rule("batch", ["jobs", "cronjobs"], READ),
    rule("networking.k8s.io", ["ingresses", "networkpolicies"], READ),
    rule("autoscaling", ["horizontalpodautoscalers"], READ),
    rule("policy", ["poddisruptionbudgets"], READ),
    rule("discovery.k8s.io", ["endpointslices"], READ),
    rule("events.k8s.io", ["events"], READ),
    rule(names.GROUP, ["databases", "policyexceptions"], READ),
    rule("wgpolicyk8s.io", ["policyreports"], READ),
)
DEVELOPER: tuple[Rule, ...] = VIEWER + (
    rule("", ["secrets"], READ),
    rule("", ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims"], WRITE),
    rule("", ["pods/exec", "pods/attach", "pods/portforward"], ["get", "create"]),
    rule("", ["pods/eviction"], ["create"]),
    rule("apps", ["deployments", "statefulsets", "daemonsets", "replicasets"], WRITE),
    rule(
        "apps",
        ["deployments/scale", "statefulsets/scale", "replicasets/scale"],
        ["get", "update", "patch"],
    ),
    rule("batch", ["jobs", "cronjobs"], WRITE),
    rule("networking.k8s.io", ["ingresses"], WRITE),
    rule("autoscaling", ["horizontalpodautoscalers"], WRITE),
    rule("policy", ["poddisruptionbudgets"], WRITE),
    rule(names.GROUP, ["databases"], WRITE),
)
OWNER: tuple[Rule, ...] = DEVELOPER + (
    rule("", ["serviceaccounts"], WRITE),
    rule("", ["serviceaccounts/token"], ["create"]),
)
TENANT_ROLES: dict[str, tuple[Rule, ...]] = {
    "owner": OWNER,
    "developer": DEVELOPER,
    "viewer": VIEWER,
}

# The operator: what it reads, what it owns, nothing more. Other issues extend this.
OPERATOR_RULES: tuple[Rule, ...] = (
    rule(
        names.GROUP,
        ["tenants", "platformconfigs", "databases", "policyexceptions"],
        [*READ, "patch", "update"],
    ),
    rule(
        names.GROUP,
        ["tenants/status", "platformconfigs/status", "databases/status", "policyexceptions/status"],
        ["get", "patch", "update"],
    ),
    rule("", ["namespaces"], [*READ, *WRITE]),
    rule("", ["resourcequotas", "limitranges"], [*READ, *WRITE]),
    rule("networking.k8s.io", ["networkpolicies"], [*READ, *WRITE]),
    rule("cilium.io", ["ciliumnetworkpolicies"], [*READ, *WRITE]),
    rule("rbac.authorization.k8s.io", ["rolebindings"], [*READ, *WRITE]),
    # To bind the tenant roles without holding every permission they grant.
    rule(
        "rbac.authorization.k8s.io",
        ["clusterroles"],
        ["bind"],
        [cluster_role_name(r) for r in TENANT_ROLES],
    ),
    rule("", ["events"], ["create", "patch"]),
    rule("events.k8s.io", ["events"], ["create", "patch"]),
    # To tell whether a namespace holds data before deleting it.
    rule("", ["pods", "persistentvolumeclaims"], READ),
    rule("apps", ["deployments", "statefulsets", "daemonsets"], READ),
    rule("batch", ["jobs", "cronjobs"], READ),
    # kopf scans which resources exist.
    rule("apiextensions.k8s.io", ["customresourcedefinitions"], READ),
    # Databases: binding Secrets (and the shared servers' admin Secrets, read), and what a
    # dedicated server or a backup is made of; CloudNativePG's kinds where it is installed.
    rule("", ["secrets", "services", "configmaps"], [*READ, *WRITE]),
    rule("", ["persistentvolumeclaims"], WRITE),
    # A dedicated server's data volume is switched to reclaim policy Retain (Database Retain).
    rule("", ["persistentvolumes"], ["get", "patch"]),
    rule("apps", ["statefulsets"], WRITE),
    rule("batch", ["cronjobs"], WRITE),
    rule("policy", ["poddisruptionbudgets"], [*READ, *WRITE]),
    rule("postgresql.cnpg.io", ["clusters", "scheduledbackups"], [*READ, *WRITE]),
    # Guardrails: the admission objects and the contexts they read, ...
    rule(
        "admissionregistration.k8s.io",
        ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
        [*READ, *WRITE],
    ),
    rule(names.GROUP, ["guardrailcontexts"], [*READ, *WRITE]),
    # ... the workloads they audit (beyond those read above), and the reports.
    rule("", ["replicationcontrollers"], READ),
    rule("apps", ["replicasets"], READ),
    rule("wgpolicyk8s.io", ["policyreports"], [*READ, *WRITE]),
    # Cost: nodes' capacity and labels (node pools); pods, claims and Services are read above.
    rule("", ["nodes"], READ),
)


def tenant_cluster_roles() -> list[KubeObject]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": cluster_role_name(role),
                "labels": {**PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY},
            },
            "rules": list(rules),
        }
        for role, rules in TENANT_ROLES.items()
    ]


def operator_rbac(extra_rules: tuple[Rule, ...] = ()) -> list[KubeObject]:
    """Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding of the operator."""
    labels = {**PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": SYSTEM_NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": OPERATOR, "namespace": SYSTEM_NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": OPERATOR, "labels": labels},
            "rules": [*OPERATOR_RULES, *extra_rules],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": OPERATOR, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": OPERATOR,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": OPERATOR, "namespace": SYSTEM_NAMESPACE}
            ],
        },
    ]


def crds() -> list[KubeObject]:
    return [crd(kind) for kind in KINDS]


def install(extra_rules: tuple[Rule, ...] = ()) -> list[KubeObject]:
    """Everything `mooring install` applies, in order: CRDs, roles, the operator's RBAC,
    admission policies."""
    return [
        *crds(),
        *tenant_cluster_roles(),
        *operator_rbac(extra_rules),
        *database_admission_policy(),
    ]


def operator_user() -> tuple[str, tuple[str, ...]]:
    """The user name and groups the operator's ServiceAccount authenticates as."""
    return (
        f"system:serviceaccount:{SYSTEM_NAMESPACE}:{OPERATOR}",
        (
            "system:serviceaccounts",
            f"system:serviceaccounts:{SYSTEM_NAMESPACE}",
            "system:authenticated",
        ),
    )
