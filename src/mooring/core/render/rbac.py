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
from mooring.core.isolation import refused_subjects
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
    return objects + tenant_reader(ctx)


def tenant_reader(ctx: Context) -> list[KubeObject]:
    """Owners, developers and viewers may get (and watch) their own Tenant, only that one."""
    spec = ctx.tenant.spec
    refused = refused_by_field(ctx)
    everyone: list[dict[str, Any]] = []
    for field, people in (
        ("owners", spec.owners),
        ("developers", spec.developers),
        ("viewers", spec.viewers),
    ):
        kept = subjects(people, refused.get(field, frozenset()))
        everyone += [s for s in kept if s not in everyone]
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
