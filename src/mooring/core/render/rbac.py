"""Pure: RoleBindings giving owners, developers and viewers their ClusterRole per namespace,
and a ClusterRole + ClusterRoleBinding letting all of them read their own Tenant.

The ClusterRoles bound per namespace (mooring-tenant-owner/-developer/-viewer) are
platform-wide and rendered by core/render/platform.py. The Tenant is cluster-scoped, so
reading it needs a cluster-wide binding; its role names the one Tenant (resourceNames),
so a member of one team can never read another team's Tenant.
"""

from __future__ import annotations

from typing import Any

from mooring.api import names
from mooring.api.tenant import Subjects
from mooring.core.render.context import Context, KubeObject

RBAC = "rbac.authorization.k8s.io"
ROLES = ("owner", "developer", "viewer")


# Per-tenant cluster-wide RBAC objects are named under this prefix, and the operator may
# write no other ClusterRole or ClusterRoleBinding (an admission policy holds it to that).
TENANT_RBAC_PREFIX = "mooring-tenant:"


def cluster_role_name(role: str) -> str:
    return f"mooring-tenant-{role}"


def tenant_reader_name(tenant: str) -> str:
    """The ClusterRole and ClusterRoleBinding letting a tenant's members read its Tenant."""
    return f"{TENANT_RBAC_PREFIX}{tenant}"


def subjects(people: Subjects) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [
        {"apiGroup": RBAC, "kind": "User", "name": user} for user in people.users
    ]
    result += [{"apiGroup": RBAC, "kind": "Group", "name": group} for group in people.groups]
    for account in people.service_accounts:
        namespace, name = account.split("/", 1)
        result.append({"kind": "ServiceAccount", "name": name, "namespace": namespace})
    return result


def render(ctx: Context) -> list[KubeObject]:
    spec = ctx.tenant.spec
    by_role = {"owner": spec.owners, "developer": spec.developers, "viewer": spec.viewers}
    objects = []
    for environment in spec.environments:
        for role in ROLES:
            people = by_role[role]
            if people.empty():
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
                    "subjects": subjects(people),
                }
            )
    return objects + tenant_reader(ctx)


def tenant_reader(ctx: Context) -> list[KubeObject]:
    """Owners, developers and viewers may get (and watch) their own Tenant, only that one."""
    spec = ctx.tenant.spec
    everyone: list[dict[str, Any]] = []
    for people in (spec.owners, spec.developers, spec.viewers):
        everyone += [s for s in subjects(people) if s not in everyone]
    name = tenant_reader_name(ctx.tenant.name)
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": ctx.metadata(name, None),
            "rules": [
                {
                    "apiGroups": [names.GROUP],
                    "resources": ["tenants"],
                    "resourceNames": [ctx.tenant.name],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": ctx.metadata(name, None),
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
            "subjects": everyone,
        },
    ]
