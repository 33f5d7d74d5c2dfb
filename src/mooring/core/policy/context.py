"""Pure: the GuardrailContext of a namespace, and each rule's mode for a tenant.

The GuardrailContext is what the admission policies read as `params`: each rule's mode in
the namespace, the platform's parameters, what the tenant's quota allows, and the
PolicyExceptions in force at `now`.
The operator writes it into each tenant namespace (and rewrites it when an exception
expires); `mooring check` and the audit build the very same object in memory. That one
function decides, for all three, which exceptions still apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mooring.api import names
from mooring.api.guardrail_defaults import (
    DEFAULT_ALLOWED_CAPABILITIES,
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_MODE,
    Mode,
)
from mooring.core.hostnames import Holdings, holdings
from mooring.core.policy.rules import RULE_IDS

if TYPE_CHECKING:
    # The models are imported where they are built: a namespace that no tenant owns, with
    # no PlatformConfig and no exception (`mooring check` of plain manifests) needs none of
    # them, and starts without pydantic (default_spec).
    from mooring.api.exceptions import PolicyException
    from mooring.api.guardrails import GuardrailContextSpec, GuardrailSettings
    from mooring.api.platform import PlatformConfigSpec, Tier
    from mooring.api.tenant import Quota, Tenant

CONTEXT_NAME = "guardrails"
CONTEXT_API_VERSION = names.API_VERSION
CONTEXT_KIND = "GuardrailContext"


def effective_mode(rule_id: str, settings: GuardrailSettings | None, tenant: Tenant | None) -> Mode:
    """The tenant's override, else the platform's mode for the rule, else its default
    (`settings` None: no PlatformConfig, every rule in the default mode)."""
    if tenant is not None:
        for override in tenant.spec.guardrails:
            if override.rule == rule_id:
                return override.mode
    return settings.mode(rule_id) if settings is not None else DEFAULT_MODE


def in_force(
    exceptions: Iterable[PolicyException], namespace: str | None, now: datetime
) -> list[PolicyException]:
    """The exceptions of `namespace` that apply at `now`, by name."""
    return sorted(
        (e for e in exceptions if e.namespace == namespace and e.in_force(now)),
        key=lambda e: e.name,
    )


def next_expiry(exceptions: Iterable[PolicyException], now: datetime) -> datetime | None:
    """When the next exception in force expires (the operator's next wake-up)."""
    times = [e.spec.expires for e in exceptions if e.in_force(now)]
    return min(times) if times else None


def environment_quota(
    tenant: Tenant, platform: PlatformConfigSpec, namespace: str | None
) -> Quota | None:
    """The quota of the tenant environment that `namespace` is, if it is one."""
    for environment in tenant.spec.environments:
        if tenant.namespace(environment) == namespace:
            if (tenant.spec.tier or platform.default_tier) not in platform.tiers:
                return None
            # Imported here: the renderer (and the database models it reads) is needed only
            # for a namespace of a tenant, and `mooring check` starts faster without it.
            from mooring.core.render.context import Context

            return Context(tenant, platform).quota(environment)
    return None


def tenant_of(tenants: Sequence[Tenant], namespace: str | None) -> Tenant | None:
    for tenant in tenants:
        if any(tenant.namespace(env) == namespace for env in tenant.spec.environments):
            return tenant
    return None


# Namespaces every cluster has, or that platforms commonly run in, whose names a DNS search
# path would complete (`kubernetes.default` is the API server). Names with a '-' are
# refused anyway (no top-level domain has one); these matter for the single words.
WELL_KNOWN_NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "monitoring",
    "argocd",
    "logging",
    "kyverno",
    "gatekeeper-system",
    "cert-manager",
    "ingress-nginx",
)


def platform_namespaces(platform: PlatformConfigSpec | None) -> list[str]:
    """Pure: the namespaces the platform runs in, as far as its PlatformConfig names them."""
    found = set(WELL_KNOWN_NAMESPACES) | {names.SYSTEM_NAMESPACE}
    if platform is not None:
        found |= {platform.dns.namespace, platform.ingress_controller.namespace}
        for server in platform.databases.servers:
            found.add(server.admin_secret.namespace)
            if server.peer is not None:
                found.add(server.peer.namespace)
    return sorted(found)


def tier_of(tenant: Tenant | None, platform: PlatformConfigSpec | None) -> Tier | None:
    if tenant is None or platform is None:
        return None
    return platform.tiers.get(tenant.spec.tier or platform.default_tier)


def context_spec(
    settings: GuardrailSettings,
    *,
    tenant: Tenant | None,
    quota: Quota | None,
    exceptions: Sequence[PolicyException],
    platform: PlatformConfigSpec | None = None,
    hostnames: Sequence[str] = (),
) -> GuardrailContextSpec:
    """Pure: the parameters of one namespace; `exceptions` are those in force there,
    `hostnames` the names its tenant holds (hostnames.holdings)."""
    from mooring.api.guardrails import GuardrailContextSpec

    tier = tier_of(tenant, platform)
    return GuardrailContextSpec(
        tenant=tenant.name if tenant is not None else None,
        modes={rule: effective_mode(rule, settings, tenant) for rule in RULE_IDS},
        allowed_registries=list(settings.allowed_registries),
        allowed_capabilities=list(settings.allowed_capabilities),
        required_labels=list(settings.required_labels),
        node_ports=bool(quota is not None and quota.node_ports),
        load_balancers=bool(quota is not None and quota.load_balancers),
        allowed_priority_classes=list(tier.priority_classes) if tier is not None else [],
        ingress_classes=list(tier.ingress.classes) if tier is not None else [],
        hostnames=list(hostnames),
        cluster_domain=platform.cluster_domain if platform is not None else DEFAULT_CLUSTER_DOMAIN,
        platform_namespaces=platform_namespaces(platform),
        exceptions=[e.as_context_entry() for e in exceptions],
    )


def default_spec() -> dict[str, Any]:
    """The spec (as JSON) of a namespace no tenant owns, with no PlatformConfig and no
    exception in force: `context_spec(GuardrailSettings(), tenant=None, quota=None,
    exceptions=[]).to_json()`, written out so that `mooring check` of plain manifests
    builds no model (a unit test keeps the two equal)."""
    return {
        "modes": dict.fromkeys(RULE_IDS, DEFAULT_MODE),
        "allowedRegistries": [],
        "allowedCapabilities": list(DEFAULT_ALLOWED_CAPABILITIES),
        "requiredLabels": [],
        "nodePorts": False,
        "loadBalancers": False,
        "allowedPriorityClasses": [],
        "ingressClasses": [],
        "hostnames": [],
        "clusterDomain": DEFAULT_CLUSTER_DOMAIN,
        "platformNamespaces": platform_namespaces(None),
        "exceptions": [],
    }


def context_object(namespace: str | None, spec: GuardrailContextSpec) -> dict[str, Any]:
    """The GuardrailContext object as the operator applies it and the policies read it."""
    return _context_object(namespace, spec.to_json(), spec.tenant)


def _context_object(
    namespace: str | None, spec: dict[str, Any], tenant: str | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": CONTEXT_NAME,
        "labels": {
            names.LABEL_MANAGED_BY: names.MANAGED_BY,
            names.LABEL_COMPONENT: "guardrails",
        },
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    obj: dict[str, Any] = {
        "apiVersion": CONTEXT_API_VERSION,
        "kind": CONTEXT_KIND,
        "metadata": metadata,
        "spec": spec,
    }
    if tenant is not None:
        metadata["labels"][names.LABEL_TENANT] = tenant
    return obj


def build_context(
    namespace: str | None,
    platform: PlatformConfigSpec | None,
    *,
    tenants: Sequence[Tenant] = (),
    exceptions: Iterable[PolicyException] = (),
    now: datetime,
    held: Holdings | None = None,
) -> dict[str, Any]:
    """Everything above in one call: the GuardrailContext of `namespace` at `now`.

    `held`: who holds which hostnames among `tenants` (computed here when not given; pass
    it when building the contexts of many namespaces)."""
    tenant = tenant_of(tenants, namespace)
    here = in_force(exceptions, namespace, now)
    if platform is None and tenant is None and not here:
        return _context_object(namespace, default_spec(), None)
    from mooring.api.guardrails import GuardrailSettings

    settings = platform.guardrails if platform is not None else GuardrailSettings()
    quota = (
        environment_quota(tenant, platform, namespace)
        if tenant is not None and platform is not None
        else None
    )
    if held is None and tenant is not None and tenant.spec.hostnames:
        held = holdings(tenants, platform)
    spec = context_spec(
        settings,
        tenant=tenant,
        quota=quota,
        exceptions=here,
        platform=platform,
        hostnames=held.of(tenant.name) if held is not None and tenant is not None else (),
    )
    return context_object(namespace, spec)


__all__ = [
    "CONTEXT_NAME",
    "build_context",
    "context_object",
    "context_spec",
    "default_spec",
    "effective_mode",
    "environment_quota",
    "in_force",
    "next_expiry",
    "platform_namespaces",
    "tenant_of",
    "tier_of",
]
