"""Pure: RoleBindings giving owners, developers and viewers their ClusterRole per namespace.

The ClusterRoles bound per namespace (mooring-tenant-owner/-developer/-viewer) are
platform-wide and rendered by core/render/platform.py. Nothing here is cluster-wide:
members read their Tenant through its namespaced copy (view.py), not through a
ClusterRoleBinding per tenant, which every request in the cluster would pay for.
"""

from __future__ import annotations

from typing import Any

from mooring.api.tenant import Subjects
from mooring.core.isolation import refused_subjects
from mooring.core.render.context import Context, KubeObject

RBAC = "rbac.authorization.k8s.io"
ROLES = ("owner", "developer", "viewer")


# Versions before the TenantView gave each tenant a ClusterRole and a ClusterRoleBinding
# named under this prefix; the operator deletes them (services/retire.py), and may delete
# no other ClusterRole or ClusterRoleBinding (an admission policy holds it to that).
TENANT_RBAC_PREFIX = "mooring-tenant:"


def cluster_role_name(role: str) -> str:
    return f"mooring-tenant-{role}"


def subjects(people: Subjects, refused: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """RBAC subjects of one role; `refused` ones (core/isolation.py) are left out."""
    result: list[dict[str, Any]] = [
        {"apiGroup": RBAC, "kind": "User", "name": user}
        for user in people.users
        if user not in refused
    ]
    result += [
        {"apiGroup": RBAC, "kind": "Group", "name": group}
        for group in people.groups
        if group not in refused
    ]
    for account in people.service_accounts:
        if account in refused:
            continue
        namespace, name = account.split("/", 1)
        result.append({"kind": "ServiceAccount", "name": name, "namespace": namespace})
    return result


def refused_by_field(ctx: Context) -> dict[str, frozenset[str]]:
    """Members that would open the tenant to everyone, by field (owners, developers,
    viewers): they never reach a binding, even if the Tenant got past validate and
    admission (say, admitted before the PlatformConfig changed); the operator reports them
    (SubjectRefused)."""
    refused: dict[str, frozenset[str]] = {}
    for refusal in refused_subjects(ctx.tenant, ctx.platform):
        field = str(refusal.path[1])
        refused[field] = refused.get(field, frozenset()) | {refusal.subject}
    return refused


def render(ctx: Context) -> list[KubeObject]:
    spec = ctx.tenant.spec
    by_role = {"owner": spec.owners, "developer": spec.developers, "viewer": spec.viewers}
    refused = refused_by_field(ctx)
    fields = {"owner": "owners", "developer": "developers", "viewer": "viewers"}
    objects = []
    for environment in spec.environments:
        for role in ROLES:
            people = by_role[role]
            kept = subjects(people, refused.get(fields[role], frozenset()))
            if not kept:
                continue
            objects.append(
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "RoleBinding",
                    "metadata": ctx.metadata(f"mooring-{role}s", environment),
                    "roleRef": {
                        "apiGroup": RBAC,
                        "kind": "ClusterRole",
                        "name": cluster_role_name(role),
                    },
                    "subjects": kept,
                }
            )
    return objects
