"""Pure renderers: one module per kind of child object a Tenant owns.

`render_tenant` runs them in apply order and returns plain Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Callable

from mooring.core.render import (
    cilium,
    limitranges,
    namespaces,
    networkpolicies,
    observe,
    quotas,
    rbac,
    view,
)
from mooring.core.render.context import Context, Features, KubeObject

Renderer = Callable[[Context], list[KubeObject]]

RENDERERS: tuple[Renderer, ...] = (
    namespaces.render,  # one Namespace per environment; first, the rest live inside them
    rbac.render,  # RoleBindings: owners, developers, viewers -> mooring-tenant-* roles
    quotas.render,  # ResourceQuota: tier, overridden by tenant, then environment
    limitranges.render,  # LimitRange: the tier's container defaults
    networkpolicies.render,  # default deny, DNS, same tenant, declared allowances
    cilium.render,  # L7 HTTP and FQDN rules, only where Cilium is installed
    observe.render,  # alert rules, routing, dashboard (rules and routes where the CRDs are)
    view.render,  # TenantView: the copy of the Tenant its members read, in the first namespace
)


def render_tenant(ctx: Context) -> list[KubeObject]:
    """Pure: every object the tenant should have, in apply order."""
    return [obj for renderer in RENDERERS for obj in renderer(ctx)]


__all__ = ["RENDERERS", "Context", "Features", "KubeObject", "render_tenant"]
