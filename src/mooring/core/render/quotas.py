"""Pure: the ResourceQuota of each environment (tier, then tenant, then environment).

Every quota limits compute (cpu, memory, ephemeral storage: requests and limits), storage
and the count of every kind a tenant can create that costs the cluster something (MTB
FNS-1 and FNS-2); what the tier leaves unset has a default (api/platform.py Tier.complete).
"""

from __future__ import annotations

from mooring.api import names
from mooring.api.quantity import format_bytes, format_cpu, parse_quantity
from mooring.api.tenant import Quota
from mooring.core.render.context import Context, KubeObject
from mooring.core.render.view import view_namespace

QUOTA_NAME = "mooring-quota"


def hard(quota: Quota) -> dict[str, str]:
    """The ResourceQuota `hard` map of a quota, with quantities in canonical form."""
    result: dict[str, str] = {}
    if quota.cpu is not None:
        cpu = format_cpu(parse_quantity(quota.cpu))
        result["requests.cpu"] = result["limits.cpu"] = cpu
    if quota.memory is not None:
        memory = format_bytes(parse_quantity(quota.memory))
        result["requests.memory"] = result["limits.memory"] = memory
    if quota.ephemeral_storage is not None:
        ephemeral = format_bytes(parse_quantity(quota.ephemeral_storage))
        result["requests.ephemeral-storage"] = result["limits.ephemeral-storage"] = ephemeral
    if quota.storage is not None:
        result["requests.storage"] = format_bytes(parse_quantity(quota.storage))
    counts = {
        "pods": quota.pods,
        "services": quota.services,
        "services.loadbalancers": quota.load_balancers,
        "services.nodeports": quota.node_ports,
        "persistentvolumeclaims": quota.persistent_volume_claims,
        "configmaps": quota.config_maps,
        "secrets": quota.secrets,
        "replicationcontrollers": quota.replication_controllers,
        "resourcequotas": quota.resource_quotas,
    }
    result.update({key: str(value) for key, value in counts.items() if value is not None})
    return result


def render(ctx: Context) -> list[KubeObject]:
    """One quota per namespace; each names where the tenant's TenantView is (view.py), so
    that a member who knows one namespace finds it."""
    view_at = view_namespace(ctx.tenant)
    return [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {
                **ctx.metadata(QUOTA_NAME, environment),
                "annotations": {names.ANNOTATION_TENANT_VIEW: view_at},
            },
            "spec": {"hard": hard(ctx.quota(environment))},
        }
        for environment in ctx.tenant.spec.environments
    ]
