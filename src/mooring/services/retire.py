"""Take away what earlier versions of Mooring made and this one no longer does.

Before the TenantView (core/render/view.py), each tenant had a ClusterRole and a
ClusterRoleBinding named mooring-tenant:<tenant> so that its members could read the
Tenant. Every request of anyone but a cluster admin pays for each ClusterRoleBinding in the
cluster, so the operator deletes them once at start-up; members read the TenantView instead.

Side effects: lists (by the tenant label) and deletes through `Kube`.
"""

from __future__ import annotations

from mooring.api import names
from mooring.core.render.rbac import TENANT_RBAC_PREFIX
from mooring.kube.client import Kube

RBAC = "rbac.authorization.k8s.io/v1"


async def retire_tenant_readers(kube: Kube) -> list[str]:
    """Delete the per-tenant reader bindings and roles (bindings first: a binding without
    its role grants nothing, a role without a binding neither). Returns what went."""
    removed: list[str] = []
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        found = await kube.list(RBAC, kind, labels=names.LABEL_TENANT)
        for obj in found:
            meta = obj["metadata"]
            if not meta["name"].startswith(TENANT_RBAC_PREFIX):
                continue
            if await kube.delete(RBAC, kind, meta["name"], uid=meta.get("uid")):
                removed.append(f"{kind} {meta['name']}")
    return removed
