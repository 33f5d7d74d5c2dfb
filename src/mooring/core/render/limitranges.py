"""Pure: the LimitRange of each environment: container defaults from the tier."""

from __future__ import annotations

from mooring.api.platform import Resources
from mooring.api.quantity import format_bytes, format_cpu, parse_quantity
from mooring.core.render.context import Context, KubeObject

LIMIT_RANGE_NAME = "mooring-defaults"


def _resources(resources: Resources) -> dict[str, str]:
    result = {}
    if resources.cpu is not None:
        result["cpu"] = format_cpu(parse_quantity(resources.cpu))
    if resources.memory is not None:
        result["memory"] = format_bytes(parse_quantity(resources.memory))
    if resources.ephemeral_storage is not None:
        result["ephemeral-storage"] = format_bytes(parse_quantity(resources.ephemeral_storage))
    return result


def render(ctx: Context) -> list[KubeObject]:
    defaults = ctx.tier.container_defaults
    # Ephemeral storage always has a default: the quota limits it, so a container without
    # an amount would otherwise be refused.
    limit: dict[str, object] = {
        "type": "Container",
        "default": _resources(defaults.limit()),
        "defaultRequest": _resources(defaults.request()),
    }
    if defaults.max is not None:
        limit["max"] = _resources(defaults.max)
    return [
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": ctx.metadata(LIMIT_RANGE_NAME, environment),
            "spec": {"limits": [limit]},
        }
        for environment in ctx.tenant.spec.environments
    ]
