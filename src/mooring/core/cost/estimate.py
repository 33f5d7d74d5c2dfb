"""What a platform repository costs per month before anything runs: for a pull request.

Pure. Two figures per tenant, at the platform's list prices (node pools aside):
- the upper bound: every environment's quota (CPU and memory requests and limits,
  storage, load balancers) fully used for a month. Usage cannot exceed limits and limits
  cannot exceed the quota, so the tenant cannot cost more (GPUs are outside quotas);
- the expected cost of the workload manifests given: replicas x the containers' requests
  (limits where no request is set, else the tier's default request, as the API server and
  the namespace's LimitRange would fill them in), claimed volumes, load balancers, and
  managed databases (a dedicated server's requests and volume; backup volumes).

`compare` turns two estimates (the base branch's and the pull request's) into the change
per tenant that reviewers see ("+ 412.00 USD/month").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from mooring.api.cost import GIB, HOURS_PER_MONTH
from mooring.api.database import Database
from mooring.api.database import Resources as DatabaseResources
from mooring.api.documents import Document
from mooring.api.platform import PlatformConfigSpec, Resources
from mooring.api.quantity import QuantityError, parse_quantity
from mooring.api.tenant import Tenant
from mooring.core.render.context import Context

ZERO = Decimal(0)
NO_TENANT = "(no tenant)"
REPLICATED = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
UNTIMED = {"Job", "CronJob"}


@dataclass(frozen=True)
class EstimateLine:
    tenant: str
    kind: Literal["quota", "workload"]
    what: str
    monthly: Decimal
    document: Document | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Note:
    message: str
    document: Document | None = field(default=None, compare=False)


@dataclass
class TenantEstimate:
    tenant: str
    upper_bound: Decimal = ZERO
    expected: Decimal = ZERO
    lines: list[EstimateLine] = field(default_factory=list)
    document: Document | None = None


@dataclass
class Estimate:
    currency: str
    tenants: dict[str, TenantEstimate] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    @property
    def upper_bound(self) -> Decimal:
        return sum((t.upper_bound for t in self.tenants.values()), ZERO)

    @property
    def expected(self) -> Decimal:
        return sum((t.expected for t in self.tenants.values()), ZERO)


def _quantity(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def estimate(
    tenants: Sequence[tuple[Tenant, Document | None]],
    platform: PlatformConfigSpec,
    workloads: Sequence[Document] = (),
    default_namespace: str | None = None,
    databases: Sequence[tuple[Database, Document | None]] = (),
) -> Estimate:
    """Pure: the upper bound and expected monthly cost of each tenant."""
    prices = platform.prices
    result = Estimate(prices.currency)
    owner: dict[str, tuple[Tenant, Context]] = {}
    for tenant, document in tenants:
        if (tenant.spec.tier or platform.default_tier) not in platform.tiers:
            continue  # `mooring validate` reports the unknown tier
        ctx = Context(tenant, platform)
        entry = result.tenants.setdefault(
            tenant.name, TenantEstimate(tenant.name, document=document)
        )
        for environment in tenant.spec.environments:
            namespace = tenant.namespace(environment)
            owner[namespace] = (tenant, ctx)
            monthly = quota_month(ctx, environment.name)
            entry.upper_bound += monthly
            entry.lines.append(
                EstimateLine(tenant.name, "quota", f"quota of {namespace}", monthly, document)
            )
    for document in workloads:
        obj = document.obj
        if not isinstance(obj, dict):
            continue
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or default_namespace or "")
        found = owner.get(namespace) if namespace else None
        defaults = found[1].tier.container_defaults.default_request if found else Resources()
        cost, what, note = workload_month(obj, platform, defaults)
        if note:
            result.notes.append(Note(note, document))
        if cost is None:
            continue
        name = found[0].name if found else NO_TENANT
        if not found:
            result.notes.append(
                Note(
                    f"{what}: namespace {namespace or '(none)'} belongs to no tenant in the "
                    "paths given",
                    document,
                )
            )
        entry = result.tenants.setdefault(name, TenantEstimate(name))
        entry.expected += cost
        entry.lines.append(EstimateLine(name, "workload", what, cost, document))
    for database, document in databases:
        found = owner.get(database.metadata.namespace or "")
        name = found[0].name if found else NO_TENANT
        cost, what = database_month(database, platform)
        entry = result.tenants.setdefault(name, TenantEstimate(name))
        entry.expected += cost
        entry.lines.append(EstimateLine(name, "workload", what, cost, document))
    return result


def database_month(database: Database, platform: PlatformConfigSpec) -> tuple[Decimal, str]:
    """A managed database's month: a dedicated server's requests and data volume; the
    backup volume on either plan (a shared server is the platform's, not the tenant's)."""
    spec, prices = database.spec, platform.prices
    storage_class = platform.databases.dedicated.storage_class
    what = f"Database {database.metadata.namespace}/{database.name} ({spec.plan})"
    monthly = ZERO
    if spec.plan == "dedicated":
        resources = spec.resources or DatabaseResources()
        hourly = (
            parse_quantity(resources.cpu) * prices.cpu_per_vcpu_hour
            + parse_quantity(resources.memory) / GIB * prices.memory_per_gib_hour
        )
        monthly += hourly * HOURS_PER_MONTH
        monthly += parse_quantity(spec.storage) / GIB * prices.storage_class_month(storage_class)
    if spec.backup is not None:
        monthly += (
            parse_quantity(spec.backup.storage) / GIB * prices.storage_class_month(storage_class)
        )
    return monthly, what


def quota_month(ctx: Context, environment: str) -> Decimal:
    """One environment's quota fully used for a month, at list prices."""
    env = next(e for e in ctx.tenant.spec.environments if e.name == environment)
    quota = ctx.quota(env)
    prices = ctx.platform.prices
    hourly = ZERO
    if quota.cpu is not None:
        hourly += parse_quantity(quota.cpu) * prices.cpu_per_vcpu_hour
    if quota.memory is not None:
        hourly += parse_quantity(quota.memory) / GIB * prices.memory_per_gib_hour
    if quota.load_balancers:
        hourly += quota.load_balancers * prices.load_balancer_per_hour
    monthly = hourly * HOURS_PER_MONTH
    if quota.storage is not None:
        monthly += parse_quantity(quota.storage) / GIB * prices.storage_per_gib_month
    return monthly


def _container_requests(container: Mapping[str, Any], defaults: Resources) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    result: dict[str, Decimal] = {}
    for name, fallback in (("cpu", defaults.cpu), ("memory", defaults.memory)):
        value: Decimal | None = _quantity(requests.get(name))
        if value is None:
            value = _quantity(limits.get(name))  # the API server copies limits to requests
        if value is None:
            value = _quantity(fallback)  # the namespace's LimitRange default
        result[name] = value or ZERO
    result["gpu"] = sum(
        (_quantity(v) or ZERO for k, v in {**limits, **requests}.items() if k.endswith("/gpu")),
        ZERO,
    )
    return result


def pod_hourly(
    pod_spec: Mapping[str, Any], platform: PlatformConfigSpec, defaults: Resources
) -> Decimal:
    """What one pod's requests cost per hour (init containers run briefly: left out)."""
    prices = platform.prices
    hourly = ZERO
    for container in pod_spec.get("containers") or []:
        requests = _container_requests(container, defaults)
        hourly += (
            requests["cpu"] * prices.cpu_per_vcpu_hour
            + requests["memory"] / GIB * prices.memory_per_gib_hour
            + requests["gpu"] * prices.gpu_per_hour
        )
    return hourly


def _claim_month(claim: Mapping[str, Any], platform: PlatformConfigSpec) -> Decimal:
    spec = claim.get("spec") or {}
    size = _quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    if size is None:
        return ZERO
    return size / GIB * platform.prices.storage_class_month(spec.get("storageClassName"))


def workload_month(
    obj: Mapping[str, Any], platform: PlatformConfigSpec, defaults: Resources
) -> tuple[Decimal | None, str, str | None]:
    """(monthly cost or None if it has none, what it is, a note for reviewers)."""
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    what = f"{kind} {meta.get('namespace') or '-'}/{meta.get('name', '?')}"
    if kind == "Pod":
        return pod_hourly(spec, platform, defaults) * HOURS_PER_MONTH, what, None
    if kind in REPLICATED or kind == "DaemonSet":
        replicas = spec.get("replicas", 1) if kind != "DaemonSet" else 1
        replicas = replicas if isinstance(replicas, int) and replicas >= 0 else 1
        template = (spec.get("template") or {}).get("spec") or {}
        monthly = pod_hourly(template, platform, defaults) * replicas * HOURS_PER_MONTH
        for claim in spec.get("volumeClaimTemplates") or []:
            monthly += _claim_month(claim, platform) * replicas
        note = None
        if kind == "DaemonSet":
            note = f"{what}: one pod per node; estimated for one node"
        return monthly, f"{what} ({replicas} replica{'s' if replicas != 1 else ''})", note
    if kind in UNTIMED:
        return None, what, f"{what}: runs for a time no manifest says; not estimated"
    if kind == "PersistentVolumeClaim":
        return _claim_month(obj, platform), what, None
    if kind == "Service" and spec.get("type") == "LoadBalancer":
        return platform.prices.load_balancer_per_hour * HOURS_PER_MONTH, what, None
    return None, what, None


@dataclass(frozen=True)
class Change:
    """One tenant's monthly figures before and after (None: absent on that side)."""

    tenant: str
    upper_before: Decimal | None
    upper_after: Decimal | None
    expected_before: Decimal | None
    expected_after: Decimal | None
    document: Document | None = field(default=None, compare=False)

    @property
    def upper_delta(self) -> Decimal:
        return (self.upper_after or ZERO) - (self.upper_before or ZERO)

    @property
    def expected_delta(self) -> Decimal:
        return (self.expected_after or ZERO) - (self.expected_before or ZERO)

    @property
    def changed(self) -> bool:
        return self.upper_before != self.upper_after or self.expected_before != self.expected_after


def compare(base: Estimate | None, head: Estimate) -> list[Change]:
    """Per tenant, base -> head (every tenant of either side), largest increase first."""
    before = base.tenants if base is not None else {}
    names = sorted(set(before) | set(head.tenants))
    changes = []
    for name in names:
        old, new = before.get(name), head.tenants.get(name)
        either = new or old
        changes.append(
            Change(
                name,
                old.upper_bound if old else None,
                new.upper_bound if new else None,
                old.expected if old else None,
                new.expected if new else None,
                either.document if either else None,
            )
        )
    return sorted(changes, key=lambda c: (-c.upper_delta, -c.expected_delta, c.tenant))
