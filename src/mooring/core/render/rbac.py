"""Pure: RoleBindings giving owners, developers and viewers their ClusterRole per namespace.

The ClusterRoles themselves (mooring-tenant-owner/-developer/-viewer) are platform-wide
and rendered by core/render/platform.py.
"""

from __future__ import annotations

from typing import Any

from mooring.api.tenant import Subjects
from mooring.core.render.context import Context, KubeObject

RBAC = "rbac.authorization.k8s.io"
ROLES = ("owner", "developer", "viewer")


def cluster_role_name(role: str) -> str:
    return f"mooring-tenant-{role}"


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
    return objects
