"""A tenant's scorecard: gather (the Tenant, and in each of its namespaces the quota, the
guardrails' PolicyReport and the Databases), decide (core.scorecard.build).

Side effects: API reads only, with the caller's credentials: a team member's kubeconfig is
enough (members read their Tenant's copy, the TenantView, and these objects in their
namespaces). What
cannot be read is said in the scorecard's notes instead of failing the whole card.

Extension point: other parts of the platform (cost, alerts) add a section by adding a
gatherer to SECTIONS: an async function (kube, tenant body) -> Section | None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from mooring.api import names, policyreport
from mooring.core.cost.card import cost_section
from mooring.core.policy.report import REPORT_NAME
from mooring.core.render.quotas import QUOTA_NAME
from mooring.core.scorecard import Scorecard, Section, build
from mooring.kube.client import Forbidden, Kube, KubeError, NotFound

KubeObject = dict[str, Any]
Gatherer = Callable[[Kube, KubeObject], Awaitable[Section | None]]


async def _cost(kube: Kube, tenant: KubeObject) -> Section | None:
    """This month's cost and the budget's use: status.cost, on the Tenant (or its view)
    already read."""
    return cost_section(tenant)


# name -> gatherer of an extra section; one line each (cost, alerts, ...). A gatherer that
# raises KubeError becomes a note; one that returns None adds nothing.
SECTIONS: dict[str, Gatherer] = {"cost": _cost}


class NoTenant(LookupError):
    """The tenant cannot be named or found; the message says how to name it."""


async def tenant_of_namespace(kube: Kube, namespace: str) -> str:
    """The tenant a namespace belongs to, as a member can tell: from the label on the
    quota Mooring put there (members may read quotas, not namespaces)."""
    try:
        quota = await kube.get("v1", "ResourceQuota", QUOTA_NAME, namespace)
    except (NotFound, Forbidden):
        quota = None
    tenant = ((quota or {}).get("metadata", {}).get("labels") or {}).get(names.LABEL_TENANT)
    if not tenant:
        raise NoTenant(
            f"namespace {namespace} is not a tenant namespace you can read; name the tenant "
            "(mooring tenant status NAME) or pick a namespace of yours with -n"
        )
    return str(tenant)


async def _read(what: str, notes: list[str], read: Awaitable[Any], missing: Any = None) -> Any:
    try:
        return await read
    except NotFound:
        return missing
    except KubeError as error:
        notes.append(f"{what}: {error.message}")
        return missing


async def read_view(kube: Kube, name: str, namespace: str) -> KubeObject:
    """The tenant's TenantView (core/render/view.py), found from one of its namespaces: the
    view is there, or that namespace's quota names where it is. Raises NoTenant when
    `namespace` is not the tenant's, Forbidden when the caller may not read there."""
    quota = await kube.get_or_none("v1", "ResourceQuota", QUOTA_NAME, namespace)
    meta = (quota or {}).get("metadata") or {}
    if (meta.get("labels") or {}).get(names.LABEL_TENANT) != name:
        raise NoTenant(
            f"namespace {namespace} does not belong to tenant {name!r}; members read their "
            f"tenant through one of its namespaces: mooring tenant status {name} -n NAMESPACE"
        )
    at = (meta.get("annotations") or {}).get(names.ANNOTATION_TENANT_VIEW) or namespace
    try:
        return await kube.get(names.API_VERSION, "TenantView", name, at)
    except NotFound:
        raise NoTenant(
            f"tenant {name!r} has no TenantView in namespace {at} yet (the operator writes it "
            "with the tenant's status)"
        ) from None


async def read_tenant(kube: Kube, name: str, namespace: str | None = None) -> KubeObject:
    """The Tenant, or for a member (who may not read Tenants) its TenantView, found from
    `namespace`, one of the tenant's namespaces. Both have the same spec and status
    fields that a scorecard reads. Raises NoTenant, or Forbidden (not the caller's)."""
    try:
        return await kube.get(names.API_VERSION, "Tenant", name)
    except NotFound:
        raise NoTenant(f"there is no tenant {name!r}") from None
    except Forbidden:
        if namespace is None:
            raise
        return await read_view(kube, name, namespace)


async def scorecard(kube: Kube, name: str, namespace: str | None = None) -> Scorecard:
    """Raises NoTenant when there is no such Tenant, Forbidden when it is not the caller's.
    A member's credentials read the TenantView, found from `namespace`."""
    tenant = await read_tenant(kube, name, namespace)
    status_names = [n.get("name") for n in (tenant.get("status") or {}).get("namespaces") or []]
    environments = (tenant.get("spec") or {}).get("environments") or []
    namespaces = [str(n) for n in status_names if n] or [
        f"{name}-{e.get('name')}" for e in environments
    ]
    notes: list[str] = []
    has_reports = await kube.has_kind(policyreport.API_VERSION, policyreport.KIND)
    if not has_reports:
        notes.append("guardrails: no PolicyReport CRD in this cluster (no audit yet)")

    async def one(namespace: str) -> tuple[Any, Any, Any]:
        quota = _read(
            f"quota in {namespace}",
            notes,
            kube.get("v1", "ResourceQuota", QUOTA_NAME, namespace),
        )
        report = (
            _read(
                f"guardrails in {namespace}",
                notes,
                kube.get(policyreport.API_VERSION, policyreport.KIND, REPORT_NAME, namespace),
            )
            if has_reports
            else asyncio.sleep(0)
        )
        databases = _read(
            f"databases in {namespace}",
            notes,
            kube.list(names.API_VERSION, "Database", namespace),
            missing=[],
        )
        return await asyncio.gather(quota, report, databases)

    results = await asyncio.gather(*(one(n) for n in namespaces))
    quotas = {n: r[0] for n, r in zip(namespaces, results, strict=True)}
    reports = {n: r[1] for n, r in zip(namespaces, results, strict=True)} if has_reports else {}
    databases = [db for r in results for db in r[2] or []]
    sections: list[Section] = []
    for section_name, gather in SECTIONS.items():
        try:
            section = await gather(kube, tenant)
        except KubeError as error:
            notes.append(f"{section_name}: {error.message}")
            continue
        if section is not None:
            sections.append(section)
    return build(tenant, quotas, reports, databases, sections, notes)
