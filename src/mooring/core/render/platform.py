"""Pure: the platform-wide objects Mooring is installed with.

- The tenant ClusterRoles (owner, developer, viewer), bound per namespace by rbac.py.
  Derived from each other: DEVELOPER = VIEWER + writes, OWNER = DEVELOPER + more.
  None of them can touch quotas, limit ranges, network policies, role bindings or
  namespaces, nor escalate or bind: those come from Git through Mooring.
- The operator's own ServiceAccount and least-privilege ClusterRole (no wildcards).
- The CRDs, generated from the models.
- Admission policies: a Database only in a tenant namespace; a Tenant neither in a
  reserved namespace nor with members that open it to everyone (core/isolation.py);
  Mooring's objects in tenant namespaces changed by the operator only (protection.py).
"""

from __future__ import annotations

from typing import Any

from mooring.api import names
from mooring.api.crd import crd
from mooring.api.kinds import KINDS
from mooring.core.isolation import admission_policy as tenant_admission_policy
from mooring.core.render.database import admission_policy as database_admission_policy
from mooring.core.render.protection import protection_policy
from mooring.core.render.rbac import TENANT_RBAC_PREFIX, cluster_role_name

KubeObject = dict[str, Any]
Rule = dict[str, Any]
READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete"]
SYSTEM_NAMESPACE = names.SYSTEM_NAMESPACE
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
    # tenantviews: the copy of their Tenant (core/render/view.py), in its first namespace.
    rule(names.GROUP, ["databases", "policyexceptions", "tenantviews"], READ),
    rule("wgpolicyk8s.io", ["policyreports"], READ),
    # The baseline alerts, routing and dashboards Mooring renders (and the tenant's own).
    rule("monitoring.coreos.com", ["prometheusrules", "alertmanagerconfigs"], READ),
    rule("grafana.integreatly.org", ["grafanadashboards"], READ),
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
    # Their own alert rules beside the baseline (which the protection policy keeps theirs).
    rule("monitoring.coreos.com", ["prometheusrules"], WRITE),
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
TENANT_ROLE_NAMES = tuple(cluster_role_name(role) for role in TENANT_ROLES)

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
    # `bind` on the three tenant roles, by name: the API server then authorizes a
    # RoleBinding with one check instead of gathering every rule the operator holds from
    # every binding in the cluster (its escalation check: 62 ms of API-server CPU per write
    # at 10,000 tenants, benchmarks/rbac_bindings.py). An admission policy holds the
    # RoleBindings it writes to those roles.
    rule("rbac.authorization.k8s.io", ["clusterroles"], ["bind"], list(TENANT_ROLE_NAMES)),
    # Delete only: the per-tenant reader roles and bindings of versions before the
    # TenantView (services/retire.py); the admission policy holds deletes to those.
    rule("rbac.authorization.k8s.io", ["clusterroles", "clusterrolebindings"], ["list", "delete"]),
    # The copies of the Tenants their members read (core/render/view.py).
    rule(names.GROUP, ["tenantviews"], [*READ, *WRITE]),
    # Events: the same one again is counted on the existing one (get, then patch).
    rule("", ["events"], ["create", "get", "patch"]),
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
    rule("networking.k8s.io", ["ingresses"], READ),
    rule("wgpolicyk8s.io", ["policyreports"], [*READ, *WRITE]),
    # Cost: nodes' capacity and labels (node pools); pods, claims and Services are read above.
    rule("", ["nodes"], READ),
    # Observe: tenants' rules, routing and dashboards (ConfigMaps are above).
    rule("monitoring.coreos.com", ["prometheusrules", "alertmanagerconfigs"], [*READ, *WRITE]),
    rule("grafana.integreatly.org", ["grafanadashboards"], [*READ, *WRITE]),
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


LEASE = OPERATOR  # the coordination.k8s.io Lease the operator's replicas elect a leader with
RESTRICTED = {
    # The operator's pods meet the restricted Pod Security profile; so must all else here.
    f"pod-security.kubernetes.io/{mode}": "restricted"
    for mode in ("enforce", "warn", "audit")
}


def operator_rbac(
    extra_rules: tuple[Rule, ...] = (), namespace: str = SYSTEM_NAMESPACE
) -> list[KubeObject]:
    """Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding of the operator, and
    the Role and RoleBinding for its leader-election Lease (in its own namespace only)."""
    labels = {**PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY}
    subject = {"kind": "ServiceAccount", "name": OPERATOR, "namespace": namespace}
    election = {"name": f"{OPERATOR}-leader-election", "namespace": namespace, "labels": labels}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {**labels, **RESTRICTED}},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": OPERATOR, "namespace": namespace, "labels": labels},
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
            "subjects": [subject],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": election,
            "rules": [
                # Creating cannot be limited by name (the object has none yet).
                rule("coordination.k8s.io", ["leases"], ["create"]),
                rule("coordination.k8s.io", ["leases"], ["get", "update", "patch"], [LEASE]),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": election,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": election["name"],
            },
            "subjects": [subject],
        },
    ]


OPERATOR_RBAC_POLICY = "mooring-operator-cluster-rbac"


def operator_rbac_policy(user: str | None = None) -> list[KubeObject]:
    """The operator may write only RoleBindings of the three tenant roles, and delete only
    the per-tenant reader ClusterRoles and ClusterRoleBindings of earlier versions.

    RBAC cannot limit `create` or `delete` by a name's prefix, nor a RoleBinding's roleRef;
    this policy, enforced inside the API server, does. The operator's ClusterRole grants no
    other write on ClusterRoles or ClusterRoleBindings, and `bind` on the tenant roles only.
    """
    labels = {**PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY}
    user = user or operator_user()[0]
    tenant_roles = ", ".join(f"'{name}'" for name in TENANT_ROLE_NAMES)
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": OPERATOR_RBAC_POLICY, "labels": labels},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["rbac.authorization.k8s.io"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": ["clusterroles", "clusterrolebindings"],
                        },
                        {
                            "apiGroups": ["rbac.authorization.k8s.io"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["rolebindings"],
                        },
                    ]
                },
                "matchConditions": [
                    {"name": "the-operator", "expression": f"request.userInfo.username == '{user}'"}
                ],
                "validations": [
                    {
                        "expression": "request.resource.resource == 'rolebindings' || "
                        "(request.operation == 'DELETE' && "
                        f"oldObject.metadata.name.startsWith('{TENANT_RBAC_PREFIX}'))",
                        "message": "the Mooring operator writes no ClusterRole or "
                        "ClusterRoleBinding; it deletes only the tenant reader ones of earlier "
                        f"versions ({TENANT_RBAC_PREFIX}<tenant>)",
                        "reason": "Forbidden",
                    },
                    {
                        "expression": "request.resource.resource != 'rolebindings' || "
                        f"(object.roleRef.kind == 'ClusterRole' && "
                        f"object.roleRef.name in [{tenant_roles}])",
                        "message": "the Mooring operator's RoleBindings bind only the tenant "
                        f"roles ({tenant_roles.replace(chr(39), '')})",
                        "reason": "Forbidden",
                    },
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": OPERATOR_RBAC_POLICY, "labels": labels},
            "spec": {"policyName": OPERATOR_RBAC_POLICY, "validationActions": ["Deny"]},
        },
    ]


def crds() -> list[KubeObject]:
    return [crd(kind) for kind in KINDS]


def install(extra_rules: tuple[Rule, ...] = ()) -> list[KubeObject]:
    """The platform without the operator's workload, in order: CRDs, roles, the operator's
    RBAC, admission policies (what the local control plane, tests and the demo install; the
    operator runs as a local process there). core/render/install.py adds the rest."""
    return [
        *crds(),
        *tenant_cluster_roles(),
        *operator_rbac(extra_rules),
        *operator_rbac_policy(),
        *database_admission_policy(),
        *tenant_admission_policy(),
        *protection_policy(operator_user()[0]),
    ]


def operator_user(namespace: str = SYSTEM_NAMESPACE) -> tuple[str, tuple[str, ...]]:
    """The user name and groups the operator's ServiceAccount authenticates as."""
    return (
        f"system:serviceaccount:{namespace}:{OPERATOR}",
        (
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ),
    )
