"""Pure: the TenantView, the copy of a Tenant that its members may read.

A Tenant is cluster-scoped, so letting members read it takes a cluster-wide binding, one
per tenant. Kubernetes' RBAC authorizer goes through every ClusterRoleBinding on each
request of anyone who is not a cluster admin (the operator, controllers, every team
member): at 10,000 tenants that was 30 % of the API server's CPU (docs/benchmarks.md).
So members read a namespaced copy instead, through the tenant roles they already hold in
their namespaces: one TenantView per tenant, in its first namespace, named after it.

The renderer gives its spec (people, environments, tier, cost centre, budget). The
reconcile adds the status it has just written to the Tenant (`with_status`), without the
quota usage, which members read from the quotas themselves; the cost loop keeps
`status.cost` (services/cost_status.py). Every namespace's ResourceQuota names the view's
namespace (annotation mooring.dev/tenant-view), so a member who knows one namespace finds
the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mooring.api import names
from mooring.api.tenant import Tenant
from mooring.core.render.context import Context, KubeObject

KIND = "TenantView"


def view_namespace(tenant: Tenant) -> str:
    """Where the tenant's view lives: its first environment's namespace."""
    return tenant.namespace(tenant.spec.environments[0])


def view_namespace_of(body: Mapping[str, Any]) -> str | None:
    """The same, from a Tenant as read (its spec may not be valid): None without an
    environment."""
    environments = (body.get("spec") or {}).get("environments") or []
    if not environments or not isinstance(environments[0], Mapping):
        return None
    return f"{body['metadata']['name']}-{environments[0].get('name')}"


def view_spec(tenant: Tenant) -> dict[str, Any]:
    spec = tenant.spec
    copied: dict[str, Any] = {}
    for field, people in (
        ("owners", spec.owners),
        ("developers", spec.developers),
        ("viewers", spec.viewers),
    ):
        dumped = people.model_dump(by_alias=True, exclude_defaults=True)
        if dumped:
            copied[field] = dumped
    copied["environments"] = [{"name": e.name} for e in spec.environments]
    if spec.tier:
        copied["tier"] = spec.tier
    if spec.cost_center:
        copied["costCenter"] = spec.cost_center
    if spec.budget is not None:
        copied["budget"] = spec.budget.model_dump(by_alias=True, exclude_none=True, mode="json")
    return copied


def render(ctx: Context) -> list[KubeObject]:
    tenant = ctx.tenant
    first = tenant.spec.environments[0]
    return [
        {
            "apiVersion": names.API_VERSION,
            "kind": KIND,
            "metadata": ctx.metadata(tenant.name, first),
            "spec": view_spec(tenant),
        }
    ]


def view_status(status: dict[str, Any], cost: dict[str, Any] | None = None) -> dict[str, Any]:
    """What of a Tenant's status (as written) the view carries: all but the quota usage
    (members read the quotas; copying it would rewrite the view with every pod). `cost` is
    the Tenant's status.cost, which the reconcile does not write (the cost loop does)."""
    copied = {k: v for k, v in status.items() if k not in ("cost", names.KOPF_STATUS)}
    if "namespaces" in copied:
        copied["namespaces"] = [
            {k: v for k, v in entry.items() if k != "quota"} for entry in copied["namespaces"]
        ]
    if cost:
        copied["cost"] = cost
    return copied


def with_status(
    view: KubeObject, status: dict[str, Any], cost: dict[str, Any] | None = None
) -> KubeObject:
    return {**view, "status": view_status(status, cost)}


def cost_due(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Pure: is a Tenant's new status.cost due on its view too? When what members read
    changes (the month, the budget, its percentages, a crossing) or the hour turns: the
    month to date moves with every refresh (5 minutes), and every view would be written as
    often as every Tenant."""
    if not previous:
        return True
    visible = ("month", "currency", "budget", "budgetUsedPercent", "forecastPercent", "crossed")
    if any(previous.get(k) != new.get(k) for k in visible):
        return True
    return str(previous.get("updatedAt", ""))[:13] != str(new.get("updatedAt", ""))[:13]


def is_view(obj: KubeObject) -> bool:
    return obj.get("kind") == KIND and obj.get("apiVersion") == names.API_VERSION
